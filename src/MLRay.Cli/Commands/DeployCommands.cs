using System.CommandLine;
using MLRay.Cli.Rendering;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Registry;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>Exit codes shared by every command.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>Ran, but some selected model is invalid, failed or timed out.</summary>
    public const int ModelsNotRunning = 1;
    /// <summary>Bad config or arguments; nothing was contacted.</summary>
    public const int ConfigError = 2;
    /// <summary>MLflow or Ray could not be reached, or rejected the request.</summary>
    public const int ServiceError = 3;
}

/// <summary><c>mlray deploy</c> and <c>mlray plan</c>: the seed's one-shot deploy and its dry run.</summary>
public static class DeployCommands
{
    internal static readonly Argument<FileInfo> ConfigArgument = new("config") { Description = "Path to config.yml" };
    internal static readonly Argument<string> ClusterArgument = new("cluster") { Description = "Name of a ray_clusters entry" };

    internal static Option<string> OutputOption() => new Option<string>("--output", "-o")
    {
        Description = "text (default) or json",
        DefaultValueFactory = _ => "text",
    }.AcceptOnlyFromAmong("text", "json");

    public static Command Deploy()
    {
        var noWait = new Option<bool>("--no-wait") { Description = "Apply and return without waiting for RUNNING / DEPLOY_FAILED" };
        var timeout = TimeoutOption();
        var output = OutputOption();
        var command = new Command("deploy", "Deploy every selected MLflow model whose Python matches the cluster, and wait until each runs")
        {
            ConfigArgument, ClusterArgument, noWait, timeout, output,
        };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, parse.GetValue(ClusterArgument)!, parse.GetValue(output) == "json",
            async (services, cluster, console, json) =>
            {
                var options = new WaitOptions { Wait = !parse.GetValue(noWait), Timeout = parse.GetValue(timeout) };
                var report = await WithProgressAsync(progress => DeployAsync(services, cluster, options, progress, ct), console, json);
                if (json) Console.Out.WriteLine(ReportRenderer.ToJson(report).ToJsonString(Indented));
                else ReportRenderer.WriteReport(console, report);
                return report.Succeeded ? ExitCodes.Success : ExitCodes.ModelsNotRunning;
            }, ct));
        return command;
    }

    /// <summary>
    /// One reconcile — the worker's, so a version the pipeline dead-lettered or is retrying is not PUT here either — with
    /// no tag, letter or wake-up written; the desired config saved to the working dir; then the wait until every app it
    /// sent is terminal.
    /// </summary>
    public static async Task<DeployReport> DeployAsync(CliServices services, RayClusterConfig cluster, WaitOptions options,
        Action<IReadOnlyList<AppResult>>? onProgress, CancellationToken ct)
    {
        var reconciler = services.Reconciler(cluster);
        var result = await reconciler.ReconcileAsync(ct: ct);
        string? saved = null;
        if (services.Config.WorkingDir is { } dir)
        {
            Directory.CreateDirectory(dir);
            saved = Path.Combine(dir, $"{cluster.Name}.serve-config.json");
            // JSON is YAML: `serve deploy` accepts this file as it is.
            await File.WriteAllTextAsync(saved, result.Plan.Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), ct);
        }
        // A deploy reports removed apps at once: what it waits for is its models' apps running.
        var apps = await Convergence.WaitAsync(reconciler.Ray, cluster, result.Attempts.Applications,
            [.. result.Plan.Changes.Where(c => c.Kind == AppChangeKind.Removed)], result.Applied ? null : result.Current,
            waitForRemovals: false, options, onProgress, ct);
        var smokeTests = options.Wait ? await reconciler.SmokeTestAsync(result, apps, ct) : new Dictionary<string, Verify.SmokeVerdict>();
        return DeployReport.Of(result, apps, saved, options.Wait) with { ConfigPath = services.ConfigPath, SmokeTests = smokeTests };
    }

    public static Command Plan()
    {
        var output = OutputOption();
        var command = new Command("plan", "Show what a deploy would change on the cluster, without applying it")
        {
            ConfigArgument, ClusterArgument, output,
        };
        command.SetAction((parse, ct) => Run(parse.GetValue(ConfigArgument)!, parse.GetValue(ClusterArgument)!, parse.GetValue(output) == "json",
            async (services, cluster, console, json) =>
            {
                var planned = await services.Reconciler(cluster).PlanAsync(ct: ct);
                var (desired, plan, current) = (planned.Desired, planned.Plan, planned.Current);
                if (json) Console.Out.WriteLine(ReportRenderer.PlanToJson(desired, plan, current, planned.Preflight).ToJsonString(Indented));
                else ReportRenderer.WritePlan(console, desired, plan, current, planned.Preflight);
                // A model the pre-flight says pip would refuse fails the plan too, blocked (invalid) or only warned about.
                return desired.Models.Any(m => m.Kind is ModelOutcomeKind.Invalid or ModelOutcomeKind.Pending) || planned.Preflight.Any(p => p.WouldFail)
                    ? ExitCodes.ModelsNotRunning : ExitCodes.Success;
            }, ct));
        return command;
    }

    /// <summary>
    /// <c>--timeout</c>: overrides the cluster's deploy_timeout (absent: null). Checked while parsing, so a value that is not a
    /// duration is an argument error (exit 2) like any other, not a configuration error.
    /// </summary>
    internal static Option<TimeSpan?> TimeoutOption() => new("--timeout")
    {
        Description = "Override the cluster's deploy_timeout (e.g. 90s, 10m)",
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : "";
            if (ConfigLoader.ParseDuration(text) is { } duration) return duration;
            r.AddError($"--timeout: '{text}' is not a duration of at most 30 days (examples: 90s, 10m, 1h)");
            return null;
        },
    };

    /// <summary>Readable JSON: indented, and quotes, apostrophes and non-ASCII text as they are (the output is not embedded in HTML).</summary>
    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs a deploy or undeploy, with a live table of app states on a terminal.</summary>
    internal static async Task<DeployReport> WithProgressAsync(Func<Action<IReadOnlyList<AppResult>>?, Task<DeployReport>> run, IAnsiConsole console, bool json)
    {
        if (json || !console.Profile.Capabilities.Interactive)
            return await run(null);
        DeployReport? report = null;
        await console.Live(new Markup("[grey]reading the cluster…[/]")).StartAsync(async live =>
        {
            report = await run(apps =>
            {
                live.UpdateTarget(ReportRenderer.AppsTable(apps));
                live.Refresh();
            });
            live.UpdateTarget(new Text(""));
        });
        return report!;
    }

    /// <summary>Loads config (failing before any contact), builds the clients, maps known failures to exit codes.</summary>
    internal static Task<int> Run(FileInfo configFile, string clusterName, bool json,
        Func<CliServices, RayClusterConfig, IAnsiConsole, bool, Task<int>> body, CancellationToken ct) =>
        Run(configFile, json, (services, console, isJson) => body(services, services.Config.GetCluster(clusterName), console, isJson), ct, clusterName);

    /// <summary>The same for commands that are not about one cluster (<c>webhook</c>, <c>status</c>).</summary>
    internal static async Task<int> Run(FileInfo configFile, bool json,
        Func<CliServices, IAnsiConsole, bool, Task<int>> body, CancellationToken ct, string? clusterName = null)
    {
        var console = CliConsole.Create(json);
        MLRayConfig? config = null;
        try
        {
            var env = ProcessEnvironment.WithDotEnv(configFile.DirectoryName);
            config = ConfigLoader.LoadFile(configFile.FullName, env);
            using var services = new CliServices(config, env, configFile.ToString());
            return await body(services, console, json);
        }
        catch (ConfigException e) when (e.KeyPath.StartsWith("--", StringComparison.Ordinal))
        {
            // A problem with an option the command line gave (found once the config is known) is an argument error.
            return CommandErrors.Report(json, CommandErrors.Argument, ExitCodes.ConfigError, [new ServiceFailure(null, e.Message)]);
        }
        catch (ConfigException e)
        {
            // One line per problem, every problem: config error: <file>:<line>:<column>: <key path>: <problem>.
            return CommandErrors.Report(json, CommandErrors.Config, ExitCodes.ConfigError,
                [.. e.Problems.Select(p => new ServiceFailure(null, ConfigException.Describe(p, e.File)))]);
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e) && config is not null)
        {
            return CommandErrors.Report(json, CommandErrors.Service, ExitCodes.ServiceError,
                ServiceErrors.Describe(e, config, clusterName is null ? null : config.FindCluster(clusterName)));
        }
        catch (BrokerException e) when (config is not null)
        {
            // dlq, rollout commands: RabbitMQ unreachable or refusing, named by its config key like any other service.
            return CommandErrors.Report(json, CommandErrors.Service, ExitCodes.ServiceError, [new ServiceFailure(ServiceEndpoint.Broker(config), e.Message)]);
        }
    }
}

/// <summary>
/// How a command that failed says so: one line per problem on stderr (<c>config error: …</c>, <c>error: …</c>), and with
/// <c>--output json</c> also one JSON object on stdout, so a script that asked for JSON always gets JSON.
/// </summary>
internal static class CommandErrors
{
    /// <summary><see cref="Refused"/>: the request was understood but cannot be met now (e.g. no rollout in progress to pause).</summary>
    public const string Config = "config", Service = "service", Argument = "argument", Refused = "refused";

    public static int Report(bool json, string kind, int exitCode, IReadOnlyList<ServiceFailure> problems)
    {
        var prefix = kind switch { Config => "config error", Argument => "argument error", _ => "error" };
        foreach (var p in problems) Console.Error.WriteLine($"{prefix}: {p}");
        if (json) Console.Out.WriteLine(ToJson(kind, exitCode, problems).ToJsonString(DeployCommands.Indented));
        return exitCode;
    }

    public static JsonObject ToJson(string kind, int exitCode, IReadOnlyList<ServiceFailure> problems) => new()
    {
        ["error"] = new JsonObject
        {
            ["kind"] = kind,
            ["exit_code"] = exitCode,
            ["problems"] = new JsonArray([.. problems.Select(p => (JsonNode)new JsonObject
            {
                ["service"] = p.Service?.Role,
                ["config_key"] = p.Service?.ConfigKey,
                ["address"] = p.Service?.Address.ToString(),
                ["problem"] = p.Problem,
                ["message"] = p.ToString(),
            })]),
        },
    };
}
