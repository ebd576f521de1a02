using System.CommandLine;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Topology;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>
/// <c>mlray status</c>: every selected model on its cluster — RUNNING, DEPLOYING, FAILED, DEAD-LETTERED, PENDING, NOT DEPLOYED
/// or UNROUTABLE, from what Ray runs, MLRay's tags on the versions and the dead-letter queues — and every cluster's Serve apps.
/// </summary>
public static class StatusCommand
{
    private static readonly Argument<FileInfo> ConfigArgument = new("config") { Description = "Path to config.yml" };

    /// <summary>One cluster's answer: its apps, or why it could not be read.</summary>
    public sealed record ClusterStatus(RayClusterConfig Cluster, ServeInstance? Instance, ServiceFailure? Error)
    {
        public bool Reachable => Error is null;
        public IReadOnlyList<ServeApp> Apps => Instance?.Applications.Values.OrderBy(a => a.Name, StringComparer.Ordinal).ToList() ?? [];
    }

    /// <summary>What status read: the clusters, the models' rows (null when MLflow could not be read), and what could not be read.</summary>
    public sealed record StatusReport(IReadOnlyList<ClusterStatus> Clusters, IReadOnlyList<ModelStatusRow>? Models,
        IReadOnlyList<ServiceFailure> Failures, IReadOnlyList<string> Notes)
    {
        public IReadOnlyDictionary<string, int> Counts => ModelStatus.All.ToDictionary(s => s, s => Models?.Count(m => m.Status == s) ?? 0);

        /// <summary>3 if MLflow or a cluster could not be read; else 1 if a selected model is not RUNNING; else 0.</summary>
        public int ExitCode => Failures.Count > 0 ? ExitCodes.ServiceError
            : Models!.Any(m => m.Status != ModelStatus.Running) ? ExitCodes.ModelsNotRunning
            : ExitCodes.Success;
    }

    public static Command Create()
    {
        var output = DeployCommands.OutputOption();
        var command = new Command("status", "Show every selected model's status on its cluster (from Ray, MLRay's tags and the dead-letter queues), and every cluster's apps")
        {
            ConfigArgument, output,
        };
        command.SetAction((parse, ct) => DeployCommands.Run(parse.GetValue(ConfigArgument)!, parse.GetValue(output) == "json",
            async (services, console, json) =>
            {
                var report = await ReadAsync(services, ct);
                if (json) Console.Out.WriteLine(ToJson(report).ToJsonString(DeployCommands.Indented));
                else Write(console, report);
                return report.ExitCode;
            }, ct));
        return command;
    }

    /// <summary>Ray (every cluster), the registry and the dead-letter queues, side by side; every failure is kept, none thrown.</summary>
    public static async Task<StatusReport> ReadAsync(CliServices services, CancellationToken ct)
    {
        var config = services.Config;
        // Every client first: a missing auth token is a config error, raised before any cluster is contacted.
        var clients = config.Clusters.Select(c => (Cluster: c, Client: services.Ray(c))).ToList();
        var rays = clients.Select(c => ReadClusterAsync(config, c.Cluster, c.Client, ct)).ToList();
        var registry = services.Registry.ReadSnapshotAsync(ct);
        var letters = ReadDeadLettersAsync(config, ct);
        var clusters = await Task.WhenAll(rays);
        var failures = clusters.Select(c => c.Error).OfType<ServiceFailure>().ToList();
        RegistrySnapshot? snapshot = null;
        try
        {
            snapshot = await registry;
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e))
        {
            failures.InsertRange(0, ServiceErrors.Describe(e, config));
        }
        var (lettered, notes) = await letters;
        var models = snapshot is null ? null
            : ModelStatusReport.For([.. clusters.Select(c => (DesiredState.For(c.Cluster, snapshot.Models, c.Instance), c.Instance))], snapshot, lettered);
        return new StatusReport(clusters, models, failures, notes);
    }

    private static async Task<ClusterStatus> ReadClusterAsync(MLRayConfig config, RayClusterConfig cluster, RayDashboardClient client, CancellationToken ct)
    {
        try
        {
            return new ClusterStatus(cluster, await client.GetApplicationsAsync(ct), null);
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e) || e is JsonException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            var failure = ServiceErrors.IsServiceError(e) ? ServiceErrors.Describe(e, config, cluster)[0] : new ServiceFailure(null, e.Message);
            return new ClusterStatus(cluster, null, failure with { Service = failure.Service ?? ServiceEndpoint.RayDashboard(config, cluster) });
        }
    }

    /// <summary>
    /// The (cluster, model, version) of every dead letter, with its latest failure time. The broker is optional here (<c>mlray deploy</c> alone needs none):
    /// when it cannot be read, a note says so and the versions' attempt tags still show what was dead-lettered.
    /// </summary>
    private static async Task<(IReadOnlyDictionary<(string, string, string), DateTimeOffset> Letters, IReadOnlyList<string> Notes)> ReadDeadLettersAsync(MLRayConfig config, CancellationToken ct)
    {
        var store = new DeadLetterStore(RabbitMqEndpoint.For(config.Pipeline)) { LockWait = TimeSpan.FromSeconds(3) };
        var letters = new Dictionary<(string, string, string), DateTimeOffset>();
        // A broker that accepts connections but does not answer must not hold up the rest of the report.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(BrokerReadTimeout);
        try
        {
            foreach (var cluster in config.Clusters)
                foreach (var entry in await store.ListIfDeclaredAsync(cluster.Name, bounded.Token))
                    if (entry.Letter is { } l && (!letters.TryGetValue((cluster.Name, l.RegisteredModel, l.Version), out var seen) || seen < l.LastFailure))
                        letters[(cluster.Name, l.RegisteredModel, l.Version)] = l.LastFailure;
            return (letters, []);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (letters, [NotRead(config, $"no answer within {BrokerReadTimeout.TotalSeconds:0} s")]);
        }
        catch (BrokerException e)
        {
            return (letters, [NotRead(config, e.Message)]);
        }
    }

    private static string NotRead(MLRayConfig config, string why) =>
        $"dead-letter queues not read ({new ServiceFailure(ServiceEndpoint.Broker(config), why)}); dead letters shown from the versions' tags";

    private static readonly TimeSpan BrokerReadTimeout = TimeSpan.FromSeconds(10);

    private static string AppMessage(ServeApp app) =>
        RayMessage.Summarize(app.Status == AppStatus.Running ? app.Message : app.FailureMessage, 300);

    private static string? Managed(ServeApp app) =>
        app.ManagedModel is { } model ? app.ManagedVersion is { } v ? $"{model} v{v}" : model : null;

    public static JsonObject ToJson(StatusReport report) => new()
    {
        ["exit_code"] = report.ExitCode,
        ["counts"] = new JsonObject([.. report.Counts.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value))]),
        ["models"] = report.Models is null ? null : new JsonArray([.. report.Models.Select(m => (JsonNode)new JsonObject
        {
            ["cluster"] = m.Cluster,
            ["registered_model"] = m.RegisteredModel,
            ["version"] = m.Version,
            ["status"] = m.Status,
            ["detail"] = m.Detail,
        })]),
        ["clusters"] = new JsonArray([.. report.Clusters.Select(s =>
        {
            var node = new JsonObject
            {
                ["cluster"] = s.Cluster.Name,
                ["dashboard_address"] = s.Cluster.DashboardAddress.ToString(),
                ["reachable"] = s.Reachable,
            };
            if (s.Error is not null) node["error"] = s.Error.ToString();
            node["apps"] = new JsonArray([.. s.Apps.Select(a => (JsonNode)new JsonObject
            {
                ["app"] = a.Name,
                ["ray_status"] = a.Status,
                ["managed_by_mlray"] = a.ManagedModel is not null,
                ["registered_model"] = a.ManagedModel,
                ["version"] = a.ManagedVersion,
                ["route_prefix"] = a.RoutePrefix,
                ["summary"] = AppMessage(a),
                ["message"] = a.Status == AppStatus.Running ? a.Message : a.FailureMessage,
            })]);
            return (JsonNode)node;
        })]),
        ["errors"] = new JsonArray([.. report.Failures.Select(f => (JsonNode)f.ToString())]),
        ["notes"] = new JsonArray([.. report.Notes.Select(n => (JsonNode)n)]),
    };

    private static string Colour(string status) => status switch
    {
        ModelStatus.Running or AppStatus.Running => "green",
        ModelStatus.Failed or ModelStatus.DeadLettered or ModelStatus.Unroutable or AppStatus.DeployFailed or AppStatus.Unhealthy => "red",
        _ => "yellow",
    };

    public static void Write(IAnsiConsole console, StatusReport report)
    {
        var models = new Table().Border(TableBorder.Rounded).Title("models")
            .AddColumn(new TableColumn("cluster").NoWrap()).AddColumn(new TableColumn("registered model").NoWrap())
            .AddColumn(new TableColumn("version").NoWrap()).AddColumn(new TableColumn("status").NoWrap()).AddColumn("detail");
        foreach (var m in report.Models ?? [])
            models.AddRow(Markup.Escape(m.Cluster ?? "—"), Markup.Escape(m.RegisteredModel), Markup.Escape(m.Version ?? "—"),
                $"[{Colour(m.Status)}]{Markup.Escape(m.Status)}[/]", Markup.Escape(RayMessage.Summarize(m.Detail, 300)));
        if (report.Models is { Count: > 0 }) console.Write(models);

        var apps = new Table().Border(TableBorder.Rounded).Title("Serve applications")
            .AddColumn(new TableColumn("cluster").NoWrap()).AddColumn(new TableColumn("app").NoWrap())
            .AddColumn(new TableColumn("ray status").NoWrap()).AddColumn(new TableColumn("managed by MLRay").NoWrap()).AddColumn("message");
        foreach (var s in report.Clusters)
        {
            var cluster = Markup.Escape(s.Cluster.Name);
            if (!s.Reachable) apps.AddRow(cluster, "[grey]—[/]", "[red]UNREACHABLE[/]", "", Markup.Escape(RayMessage.Summarize(s.Error!.Problem, 300)));
            else if (s.Apps.Count == 0) apps.AddRow(cluster, "[grey](no apps)[/]", "", "", "");
            foreach (var app in s.Apps)
                apps.AddRow(cluster, Markup.Escape(app.Name), $"[{Colour(app.Status)}]{Markup.Escape(app.Status)}[/]",
                    Managed(app) is { } managed ? Markup.Escape(managed) : "[grey]no[/]", Markup.Escape(AppMessage(app)));
        }
        console.Write(apps);

        if (report.Models is not null)
            console.MarkupLine(string.Join("  ", report.Counts.Select(c => c.Value == 0 ? $"[grey]{c.Key} 0[/]" : $"[{Colour(c.Key)}]{c.Key} {c.Value}[/]")));
        foreach (var note in report.Notes) console.MarkupLine($"[grey]note: {Markup.Escape(note)}[/]");
        foreach (var failure in report.Failures) Console.Error.WriteLine($"error: {failure}");
        console.MarkupLine(report.ExitCode switch
        {
            ExitCodes.Success when report.Models!.Count == 0 => "[yellow]no model is selected (registered models ending in the configured suffix, with a version to serve)[/]",
            ExitCodes.Success => $"[green]every selected model is RUNNING ({report.Models!.Count})[/]",
            ExitCodes.ModelsNotRunning => $"[red]{report.Models!.Count(m => m.Status != ModelStatus.Running)} of {report.Models!.Count} selected model(s) not RUNNING[/]",
            _ => "[red]MLflow or a cluster could not be read[/]",
        });
    }
}
