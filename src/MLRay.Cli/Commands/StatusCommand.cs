using System.CommandLine;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary><c>mlray status</c>: every configured cluster's Serve applications, and which of them MLRay manages.</summary>
public static class StatusCommand
{
    private static readonly Argument<FileInfo> ConfigArgument = new("config") { Description = "Path to config.yml" };

    /// <summary>One cluster's answer: its apps, or why it could not be read.</summary>
    public sealed record ClusterStatus(RayClusterConfig Cluster, IReadOnlyList<ServeApp> Apps, string? Error)
    {
        public bool Reachable => Error is null;
    }

    public static Command Create()
    {
        var output = DeployCommands.OutputOption();
        var command = new Command("status", "Show every configured cluster's Serve applications, their Ray status, and which MLRay manages")
        {
            ConfigArgument, output,
        };
        command.SetAction((parse, ct) => DeployCommands.Run(parse.GetValue(ConfigArgument)!, parse.GetValue(output) == "json",
            async (services, console, json) =>
            {
                // Every client first: a missing auth token is a config error, raised before any cluster is contacted.
                var clients = services.Config.Clusters.Select(c => (Cluster: c, Client: services.RayClient(c))).ToList();
                var statuses = await Task.WhenAll(clients.Select(c => ReadAsync(c.Cluster, c.Client, ct)));
                if (json) Console.Out.WriteLine(ToJson(statuses).ToJsonString(DeployCommands.Indented));
                else Write(console, statuses);
                return ExitCode(statuses);
            }, ct));
        return command;
    }

    private static async Task<ClusterStatus> ReadAsync(RayClusterConfig cluster, RayDashboardClient client, CancellationToken ct)
    {
        try
        {
            var instance = await client.GetApplicationsAsync(ct);
            return new ClusterStatus(cluster, instance.Applications.Values.OrderBy(a => a.Name, StringComparer.Ordinal).ToList(), null);
        }
        catch (Exception e) when (e is RayRejectedException or Flurl.Http.FlurlHttpException or HttpRequestException or JsonException
                                   || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            return new ClusterStatus(cluster, [], e is RayRejectedException r ? $"Ray dashboard answered {r.Status}: {RayMessage.Summarize(r.Body, 300)}" : e.Message);
        }
    }

    /// <summary>3 if a cluster could not be read; else 1 if an app MLRay manages is not RUNNING; else 0.</summary>
    public static int ExitCode(IReadOnlyList<ClusterStatus> statuses) =>
        statuses.Any(s => !s.Reachable) ? ExitCodes.ServiceError
        : statuses.SelectMany(s => s.Apps).Any(a => a.ManagedModel is not null && a.Status != AppStatus.Running) ? ExitCodes.ModelsNotRunning
        : ExitCodes.Success;

    private static string Message(ServeApp app)
    {
        var full = app.Status == AppStatus.Running ? app.Message : app.FailureMessage;
        return RayMessage.Summarize(full, 300);
    }

    private static string? Managed(ServeApp app) =>
        app.ManagedModel is { } model ? app.ManagedVersion is { } v ? $"{model} v{v}" : model : null;

    public static JsonObject ToJson(IReadOnlyList<ClusterStatus> statuses) => new()
    {
        ["exit_code"] = ExitCode(statuses),
        ["clusters"] = new JsonArray([.. statuses.Select(s =>
        {
            var node = new JsonObject
            {
                ["cluster"] = s.Cluster.Name,
                ["dashboard_address"] = s.Cluster.DashboardAddress.ToString(),
                ["reachable"] = s.Reachable,
            };
            if (s.Error is not null) node["error"] = s.Error;
            node["apps"] = new JsonArray([.. s.Apps.Select(a => (JsonNode)new JsonObject
            {
                ["app"] = a.Name,
                ["ray_status"] = a.Status,
                ["managed_by_mlray"] = a.ManagedModel is not null,
                ["registered_model"] = a.ManagedModel,
                ["version"] = a.ManagedVersion,
                ["route_prefix"] = a.RoutePrefix,
                ["summary"] = Message(a),
                ["message"] = a.Status == AppStatus.Running ? a.Message : a.FailureMessage,
            })]);
            return (JsonNode)node;
        })]),
    };

    public static void Write(IAnsiConsole console, IReadOnlyList<ClusterStatus> statuses)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn(new TableColumn("cluster").NoWrap())
            .AddColumn(new TableColumn("app").NoWrap())
            .AddColumn(new TableColumn("ray status").NoWrap())
            .AddColumn(new TableColumn("managed by MLRay (model, version)"))
            .AddColumn(new TableColumn("message"));
        foreach (var s in statuses)
        {
            var cluster = Markup.Escape(s.Cluster.Name);
            if (!s.Reachable)
            {
                table.AddRow(cluster, "[grey]—[/]", "[red]UNREACHABLE[/]", "", Markup.Escape(s.Error!));
                continue;
            }
            if (s.Apps.Count == 0)
            {
                table.AddRow(cluster, "[grey](no apps)[/]", "", "", "");
                continue;
            }
            foreach (var app in s.Apps)
            {
                var colour = app.Status switch
                {
                    AppStatus.Running => "green",
                    AppStatus.DeployFailed or AppStatus.Unhealthy => "red",
                    _ => "yellow",
                };
                table.AddRow(
                    cluster,
                    Markup.Escape(app.Name),
                    $"[{colour}]{Markup.Escape(app.Status)}[/]",
                    Managed(app) is { } managed ? Markup.Escape(managed) : "[grey]no[/]",
                    Markup.Escape(Message(app)));
            }
        }
        console.Write(table);
        var code = ExitCode(statuses);
        console.MarkupLine(code switch
        {
            ExitCodes.Success => "[green]every MLRay app is RUNNING[/]",
            ExitCodes.ModelsNotRunning => "[red]some MLRay app is not RUNNING[/]",
            _ => "[red]some cluster could not be read[/]",
        });
    }
}
