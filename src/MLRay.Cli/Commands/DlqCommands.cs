using MLRay.Deploy;
using System.CommandLine;
using MLRay.Pipeline.Failures;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>
/// <c>mlray dlq list|show|replay|purge</c>: the dead letters of each cluster (and the unroutable models), straight from
/// RabbitMQ (<c>rabbitmq.uri</c>) through <see cref="DeadLetterOperations"/>, which the receiver's ops API serves too.
/// Exit 0 done, 1 some selected letter could not be acted on, 2 config or argument error, 3 the broker is unreachable or refused.
/// </summary>
public static class DlqCommands
{
    private static readonly Argument<FileInfo> ConfigArgument = DeployCommands.ConfigArgument;

    public static Command Create() => new("dlq", "List, show, replay or purge dead letters (model versions MLRay stopped trying to deploy)")
    {
        List(), Show(), Replay(), Purge(),
    };

    public static Command List()
    {
        var cluster = new Argument<string?>("cluster") { Description = "Only this cluster (default: every cluster, and the unroutable models)", Arity = ArgumentArity.ZeroOrOne, HelpName = "cluster" };
        var output = DeployCommands.OutputOption();
        var command = new Command("list", "List dead letters, oldest first; nothing is consumed or reordered. <cluster> is optional: without it, every cluster and the unroutable models") { ConfigArgument, cluster, output };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, parse.GetValue(output) == "json", async (config, operations, console, json) =>
        {
            var listing = await operations.ListAsync(parse.GetValue(cluster) is { } only ? config.GetCluster(only) : null, ct);
            if (json) Console.Out.WriteLine(DeadLetterJson.Listing(listing).ToJsonString(DeployCommands.Indented));
            else WriteList(listing, Console.Out);
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    public static Command Show()
    {
        var id = new Argument<string>("id") { Description = "The letter's id (from dlq list)" };
        var output = DeployCommands.OutputOption();
        var command = new Command("show", "Show one dead letter in full, with Ray's (or MLRay's) whole message") { ConfigArgument, DeployCommands.ClusterArgument, id, output };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, parse.GetValue(output) == "json", async (config, operations, console, json) =>
        {
            var cluster = config.GetCluster(parse.GetValue(DeployCommands.ClusterArgument)!);
            var wanted = parse.GetValue(id)!;
            if (await operations.FindAsync(cluster, wanted, ct) is not { } entry)
            {
                Console.Error.WriteLine(DeadLetterStore.NoSuchLetter(cluster.Name, wanted));
                return ExitCodes.ModelsNotRunning;
            }
            if (json) Console.Out.WriteLine(DeadLetterJson.Letter(entry).ToJsonString(DeployCommands.Indented));
            else WriteLetter(entry);
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    public static Command Replay()
    {
        var (ids, model, all) = (IdsOption(), new Option<string?>("--model") { Description = "Every letter of this registered model (or app)" }, AllOption());
        var command = new Command("replay", "Deploy dead-lettered versions again with fresh attempts (after fixing the cause); each letter is removed once the broker confirmed its replay")
        {
            ConfigArgument, DeployCommands.ClusterArgument, ids, model, all,
        };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, json: false, async (config, operations, console, _) =>
        {
            var cluster = config.GetCluster(parse.GetValue(DeployCommands.ClusterArgument)!);
            var selection = Selection(parse.GetValue(ids), parse.GetValue(model), parse.GetValue(all), "--id ID…, --model NAME or --all");
            return Report(console, await operations.ReplayAsync(cluster, selection, ct), "replayed", $" → {Pipeline.PipelineTopology.ClusterQueue(cluster.Name)}");
        }, ct));
        return command;
    }

    public static Command Purge()
    {
        var (ids, all) = (IdsOption(), AllOption());
        var yes = new Option<bool>("--yes") { Description = "Do not ask (required when there is no terminal to ask on)" };
        var command = new Command("purge", "Remove dead letters for good") { ConfigArgument, DeployCommands.ClusterArgument, ids, all, yes };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, json: false, async (config, operations, console, _) =>
        {
            var cluster = config.GetCluster(parse.GetValue(DeployCommands.ClusterArgument)!);
            var selection = Selection(parse.GetValue(ids), null, parse.GetValue(all), "--id ID… or --all");
            if (!parse.GetValue(yes))
            {
                if (!console.Profile.Capabilities.Interactive || Console.IsInputRedirected)
                    throw new ConfigException("--yes", "purge removes letters for good and there is no terminal to confirm on: pass --yes");
                // Confirm exactly what is there now, then purge those ids only: a letter arriving meanwhile is not swept away unseen.
                var selected = (await operations.ListAsync(cluster, ct)).Clusters.Single().Letters.Where(selection.Selects).ToList();
                WriteList(new DeadLetterListing([new ClusterDeadLetters(cluster.Name, selected)], null), Console.Out);
                if (selected.Count == 0 || !await console.ConfirmAsync($"Purge these {selected.Count} letter(s) of {cluster.Name}?", defaultValue: false, ct))
                    return selection.Ids.Count > 0 && selected.Count < selection.Ids.Distinct().Count() ? ExitCodes.ModelsNotRunning : ExitCodes.Success;
                selection = new LetterSelection { Ids = [.. selected.Select(e => e.Id)] };
            }
            return Report(console, await operations.PurgeAsync(cluster, selection, ct), "purged");
        }, ct));
        return command;
    }

    private static Option<string[]> IdsOption() => new("--id") { Description = "Letter ids (from dlq list)", AllowMultipleArgumentsPerToken = true };

    private static Option<bool> AllOption() => new("--all") { Description = "Every letter of the cluster" };

    private static LetterSelection Selection(string[]? ids, string? model, bool all, string usage)
    {
        var selection = new LetterSelection { Ids = ids ?? [], Model = model, All = all };
        return selection.Problem is { } problem ? throw new ConfigException(usage, problem) : selection;   // "--…": an argument error
    }

    /// <summary>One line per letter removed (<paramref name="done"/>: "replayed", "purged"), the problems on stderr; exit 1 when there are any.</summary>
    private static int Report(IAnsiConsole console, DeadLetterOutcome outcome, string done, string where = "")
    {
        foreach (var e in outcome.Removed)
            console.MarkupLine($"{done} [bold]{Markup.Escape(e.Id)}[/] ({Markup.Escape(Describe(e))}){Markup.Escape(where)}");
        foreach (var problem in outcome.Problems) Console.Error.WriteLine($"error: {problem}");
        if (outcome.Removed.Count == 0 && outcome.Problems.Count == 0) console.MarkupLine($"[grey]nothing {done}[/]");
        return outcome.Problems.Count > 0 ? ExitCodes.ModelsNotRunning : ExitCodes.Success;
    }

    private static string Describe(DeadLetterEntry e) => e.Letter is { } l ? $"{l.RegisteredModel} v{l.Version}, {l.FailureClass}" : $"unreadable: {e.Problem}";

    /// <summary>Loads the config (nothing contacted before it is valid), then runs with the dead-letter operations on its broker; broker failures are exit 3.</summary>
    private static Task<int> Run(FileInfo configFile, bool json, Func<MLRayConfig, DeadLetterOperations, IAnsiConsole, bool, Task<int>> body, CancellationToken ct) =>
        DeployCommands.Run(configFile, json, (services, console, isJson) => body(services.Config, new DeadLetterOperations(services.Config), console, isJson), ct);

    /// <summary>
    /// Plain lines rather than a table: ids are 32 characters, and a table narrowed to a pipe's 80 columns would cut them,
    /// while ops copy them into <c>show</c>, <c>replay</c> and <c>purge</c>.
    /// </summary>
    internal static void WriteList(DeadLetterListing listing, TextWriter output)
    {
        foreach (var (cluster, letters) in listing.Clusters)
        {
            output.WriteLine($"{cluster}: {letters.Count} dead letter(s){(letters.Count > 0 ? ", oldest first" : "")}");
            foreach (var e in letters)
            {
                output.WriteLine(e.Letter is { } l
                    ? $"  {e.Id}  {l.RegisteredModel} v{l.Version}  {l.FailureClass}  {l.Attempts} attempt(s)  last failure {l.LastFailure:u}"
                    : $"  {e.Id}  unreadable");
                output.WriteLine($"      {RayMessage.Summarize(e.Letter?.Message ?? e.Problem ?? "", 200)}");
            }
        }
        if (listing.Unroutable is not { } unroutable) return;
        output.WriteLine($"{Pipeline.PipelineTopology.UnroutableQueue}: {unroutable.Count} model(s) no cluster serves");
        foreach (var u in unroutable)
            output.WriteLine(u.Model is { } m
                ? $"  {m.RegisteredModel} v{m.Version}  python {m.Python ?? "?"}  {u.Reason}"
                : $"  {u.Id}  unreadable: {u.Problem}");
    }

    /// <summary>Every field, then the message verbatim (pip's or Ray's whole text, line breaks kept), for copying into a ticket.</summary>
    private static void WriteLetter(DeadLetterEntry entry)
    {
        var node = DeadLetterJson.Letter(entry);
        var message = node.Remove("message", out var m) ? (string?)m : null;
        foreach (var (key, value) in node)
            Console.Out.WriteLine($"{key}: {(value is JsonArray a ? string.Join(", ", a.Select(v => (string?)v)) : value?.ToString() ?? "")}");
        if (message is null) return;
        Console.Out.WriteLine("message:");
        Console.Out.WriteLine(message);
    }
}
