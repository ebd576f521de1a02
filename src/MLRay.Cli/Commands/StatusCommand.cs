using System.CommandLine;
using MLRay.Deploy;
using MLRay.Pipeline.Status;
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

    /// <summary>3 if MLflow or a cluster could not be read; else 1 if a selected model is not RUNNING; else 0.</summary>
    public static int ExitCode(StatusReport report) => report.Failures.Count > 0 ? ExitCodes.ServiceError
        : report.Models!.Any(m => m.Status != ModelStatus.Running) ? ExitCodes.ModelsNotRunning
        : ExitCodes.Success;

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
                return ExitCode(report);
            }, ct));
        return command;
    }

    /// <summary>The one status read (<see cref="StatusReader"/>), on the command's services.</summary>
    public static Task<StatusReport> ReadAsync(CliServices services, CancellationToken ct) =>
        new StatusReader(services.Config, services.Get<ClusterReconcilers>(), services.Registry).ReadAsync(ct);

    private static string AppMessage(ServeApp app) =>
        RayMessage.Summarize(app.Status == AppStatus.Running ? app.Message : app.FailureMessage, 300);

    private static string? Managed(ServeApp app) =>
        app.ManagedModel is { } model ? app.ManagedVersion is { } v ? $"{model} v{v}" : model : null;

    public static JsonObject ToJson(StatusReport report) => new()
    {
        ["exit_code"] = ExitCode(report),
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
        console.MarkupLine(ExitCode(report) switch
        {
            ExitCodes.Success when report.Models!.Count == 0 => "[yellow]no model is selected (registered models ending in the configured suffix, with a version to serve)[/]",
            ExitCodes.Success => $"[green]every selected model is RUNNING ({report.Models!.Count})[/]",
            ExitCodes.ModelsNotRunning => $"[red]{report.Models!.Count(m => m.Status != ModelStatus.Running)} of {report.Models!.Count} selected model(s) not RUNNING[/]",
            _ => "[red]MLflow or a cluster could not be read[/]",
        });
    }
}
