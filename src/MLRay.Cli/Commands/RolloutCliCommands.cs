using System.CommandLine;
using System.Globalization;
using MLRay.Deploy;
using MLRay.Pipeline.Rollouts;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>
/// <c>mlray rollout status|list|pause|resume|promote|abort</c>: gateway rollouts (<c>traffic: gateway</c>) through
/// <see cref="RolloutOperations"/>, which the receiver's ops API serves too. A command is a request in the cluster's queue,
/// applied by its worker at the next reconcile. Exit 0 done, 1 no such model or no rollout in progress, 2 config or
/// argument error, 3 MLflow or the broker unreachable or refusing.
/// </summary>
public static class RolloutCliCommands
{
    private static readonly Argument<FileInfo> ConfigArgument = DeployCommands.ConfigArgument;
    private static readonly Argument<string> ModelArgument = new("model") { Description = "The registered model's name (e.g. fraud.staging)" };

    public static Command Create()
    {
        var rollout = new Command("rollout", "See and steer gateway rollouts (traffic: gateway): each version's weight, smoke test and traffic; pause, resume, promote or abort")
        {
            Status(), List(),
        };
        foreach (var command in Enum.GetValues<RolloutCommand>()) rollout.Add(Send(command));
        return rollout;
    }

    public static Command Status()
    {
        var output = DeployCommands.OutputOption();
        var command = new Command("status", "Show a model's versions on a cluster: status, weight, smoke test, message, and the gateway's requests, errors and latency per version")
        {
            ConfigArgument, DeployCommands.ClusterArgument, ModelArgument, output,
        };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, parse.GetValue(DeployCommands.ClusterArgument)!, parse.GetValue(output) == "json",
            async (operations, cluster, console, json) =>
            {
                var status = await operations.StatusAsync(cluster, parse.GetValue(ModelArgument)!, ct);
                if (json) Console.Out.WriteLine(RolloutJson.Status(status).ToJsonString(DeployCommands.Indented));
                else Write(console, status);
                return ExitCodes.Success;
            }, ct));
        return command;
    }

    public static Command List()
    {
        var cluster = new Argument<string?>("cluster") { Description = "Only this cluster (default: every cluster)", Arity = ArgumentArity.ZeroOrOne, HelpName = "cluster" };
        var output = DeployCommands.OutputOption();
        var command = new Command("list", "List the rollouts in progress, from MLRay's tags. <cluster> is optional: without it, every cluster") { ConfigArgument, cluster, output };
        command.SetAction((parse, ct) => DeployCommands.Run(parse.GetValue(ConfigArgument)!, parse.GetValue(output) == "json", async (services, console, json) =>
        {
            var rollouts = await Operations(services).ListAsync(parse.GetValue(cluster) is { } only ? services.Config.GetCluster(only) : null, ct);
            if (json) Console.Out.WriteLine(RolloutJson.Listing(rollouts).ToJsonString(DeployCommands.Indented));
            else if (rollouts.Count == 0) console.MarkupLine("[grey]no rollout in progress[/]");
            else
                foreach (var r in rollouts) console.MarkupLine($"{Markup.Escape(r.Cluster.Name)}  [bold]{Markup.Escape(r.RegisteredModel)}[/]  {Markup.Escape(Describe(r.InProgress!))}");
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    /// <summary><c>mlray rollout pause|resume|promote|abort</c>: one request in the cluster's queue, confirmed by the broker.</summary>
    public static Command Send(RolloutCommand what)
    {
        var output = DeployCommands.OutputOption();
        var command = new Command(what.Name(), what switch
        {
            RolloutCommand.Pause => "Hold the model's rollout at its current weights",
            RolloutCommand.Resume => "Go on with a paused rollout from its current step",
            RolloutCommand.Promote => "Send all traffic to the new version now",
            _ => $"Roll back to the previous version and dead-letter the new one (reason \"{RolloutCommands.AbortReason}\")",
        })
        {
            ConfigArgument, DeployCommands.ClusterArgument, ModelArgument, output,
        };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, parse.GetValue(DeployCommands.ClusterArgument)!, parse.GetValue(output) == "json",
            async (operations, cluster, console, json) =>
            {
                var sent = await operations.SendAsync(cluster, parse.GetValue(ModelArgument)!, what, ct);
                if (json) Console.Out.WriteLine(RolloutJson.Sent(sent).ToJsonString(DeployCommands.Indented));
                else
                {
                    console.MarkupLine($"asked {Markup.Escape(sent.Cluster)} to [bold]{what.Name()}[/] the rollout of {Markup.Escape(sent.RegisteredModel)} ({Markup.Escape(Describe(sent.Rollout))})");
                    console.MarkupLine($"[grey]queued in {Markup.Escape(sent.Queue)}: the cluster's worker applies it at its next reconcile[/]");
                }
                return ExitCodes.Success;
            }, ct));
        return command;
    }

    private static RolloutOperations Operations(CliServices services) =>
        new(services.Mlflow, services.Registry, services.Get<IHttpClientFactory>(), services.Config);

    /// <summary>Loads the config and resolves the cluster (nothing contacted before both are valid); a refused request is exit 1.</summary>
    private static Task<int> Run(FileInfo configFile, string clusterName, bool json,
        Func<RolloutOperations, RayClusterConfig, IAnsiConsole, bool, Task<int>> body, CancellationToken ct) =>
        DeployCommands.Run(configFile, clusterName, json, async (services, cluster, console, isJson) =>
        {
            try
            {
                return await body(Operations(services), cluster, console, isJson);
            }
            catch (RolloutRefusedException e)
            {
                return CommandErrors.Report(isJson, CommandErrors.Refused, ExitCodes.ModelsNotRunning, [new ServiceFailure(null, e.Message)]);
            }
        }, ct);

    /// <summary><c>version 3 at 10 % (version 2 takes the rest), step 1 since …, paused</c>.</summary>
    private static string Describe(RolloutVersion candidate)
    {
        var r = candidate.Rollout;
        var text = $"version {candidate.Version} at {GatewayLayout.Percent(candidate.Weight)}";
        if (r?.From is { } from && candidate.Weight < 100) text += $" (version {from} takes the rest)";
        if (r is not null) text += $", step {r.Step + 1} since {AttemptPolicy.Stamp(r.Since)}";
        return r is { Paused: true } ? text + ", paused" : text;
    }

    private static void Write(IAnsiConsole console, RolloutStatus status)
    {
        var traffic = status.Cluster.Serving.Traffic.ToString().ToLowerInvariant();
        console.MarkupLine($"[bold]{Markup.Escape(status.RegisteredModel)}[/] on [bold]{Markup.Escape(status.Cluster.Name)}[/] (traffic: {traffic}" +
                           (status.Stats?.Route is { } route ? $", route {Markup.Escape(route)})" : ")"));
        console.MarkupLine(status.InProgress is { } candidate ? $"rollout: {Markup.Escape(Describe(candidate))}" : "[grey]no rollout in progress[/]");
        if (status.Versions.Count == 0)
        {
            console.MarkupLine($"[grey]no version of {Markup.Escape(status.RegisteredModel)} runs, rolls out, deploys or failed on {Markup.Escape(status.Cluster.Name)}[/]");
            return;
        }
        var withStats = status.Stats is { Problem: null };
        var table = new Table().Border(TableBorder.Rounded).AddColumns("version", "status", "weight", "smoke test");
        if (withStats) table.AddColumns("requests", "errors", "p50 ms", "p99 ms");
        table.AddColumn("message");
        foreach (var v in status.Versions)
        {
            var colour = v.Status switch { DeployStatus.Running => "green", DeployStatus.RollingOut => "blue", DeployStatus.Failed => "red", _ => "yellow" };
            List<string> cells = [Markup.Escape(v.Version), $"[{colour}]{v.Status}[/]", GatewayLayout.Percent(v.Weight), Markup.Escape(v.SmokeTest ?? "-")];
            if (withStats)
                cells.AddRange(v.Stats is { } s ? [Number(s.Requests), Number(s.Errors), Millis(s.P50Ms), Millis(s.P99Ms)] : ["-", "-", "-", "-"]);
            cells.Add(Markup.Escape(RayMessage.Summarize(v.Message ?? "", 300)));
            table.AddRow([.. cells]);
        }
        console.Write(table);
        if (status.Stats is { Problem: { } problem }) console.MarkupLine($"[yellow]gateway stats: {Markup.Escape(problem)}[/]");
        else if (status.Stats is { WindowSeconds: { } window }) console.MarkupLine($"[grey]gateway stats over the last {window.ToString("0", CultureInfo.InvariantCulture)} s[/]");
    }

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Millis(double? ms) => ms?.ToString("0.#", CultureInfo.InvariantCulture) ?? "-";
}
