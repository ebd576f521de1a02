using System.CommandLine;
using MLRay.Cli.Rendering;
using MLRay.Deploy;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>
/// <c>mlray undeploy</c>: takes MLRay's apps off a cluster with one PUT of the running config minus those apps. Ray's
/// DELETE is never used: it shuts down all of Serve, foreign apps included.
/// </summary>
public static class UndeployCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model")
        {
            Description = "Only this model's app: its registered model name (e.g. iris.staging) or its app name (ray.name)",
        };
        var timeout = DeployCommands.TimeoutOption();
        var output = DeployCommands.OutputOption();
        var command = new Command("undeploy", "Remove MLRay's apps (all, or one model's) from the cluster, keeping every app MLRay did not create")
        {
            DeployCommands.ConfigArgument, DeployCommands.ClusterArgument, model, timeout, output,
        };
        command.SetAction((parse, ct) => DeployCommands.Run(parse.GetValue(DeployCommands.ConfigArgument)!,
            parse.GetValue(DeployCommands.ClusterArgument)!, parse.GetValue(output) == "json",
            async (services, cluster, console, json) =>
            {
                var options = new WaitOptions { Timeout = parse.GetValue(timeout) };
                var only = parse.GetValue(model);
                var report = await DeployCommands.WithProgressAsync(progress => UndeployAsync(services.Ray(cluster), cluster, only, options, progress, ct), console, json);
                if (json) Console.Out.WriteLine(ReportRenderer.ToJson(report).ToJsonString(DeployCommands.Indented));
                else WriteReport(console, report, only);
                return report.Succeeded ? ExitCodes.Success : ExitCodes.ModelsNotRunning;
            }, ct));
        return command;
    }

    /// <summary>
    /// Removes MLRay's apps (<see cref="UndeployPlan"/>) with one PUT — never Ray's DELETE, which removes all of Serve — and
    /// waits until Ray no longer lists them, bounded by the deadline.
    /// </summary>
    private static async Task<DeployReport> UndeployAsync(RayDashboardClient ray, RayClusterConfig cluster, string? model, WaitOptions options,
        Action<IReadOnlyList<AppResult>>? onProgress, CancellationToken ct)
    {
        var current = await ray.GetApplicationsAsync(ct);
        var (desired, plan) = UndeployPlan.For(cluster, current, model);
        if (plan.NeedsPut) await ray.PutApplicationsAsync(plan.Config, ct);
        var apps = await Convergence.WaitAsync(ray, cluster, [], [.. plan.Changes.Where(c => c.Kind == AppChangeKind.Removed)],
            plan.NeedsPut ? null : current, waitForRemovals: true, options, onProgress, ct);
        return new DeployReport(desired, plan, plan.NeedsPut, apps, null);
    }

    private static void WriteReport(IAnsiConsole console, DeployReport report, string? model)
    {
        var cluster = report.Desired.Cluster.Name;
        var removed = report.Plan.Changes.Where(c => c.Kind == AppChangeKind.Removed).Select(c => c.App).ToList();
        var kept = report.Plan.Changes.Count(c => c.Kind is AppChangeKind.Foreign or AppChangeKind.Unchanged);
        if (removed.Count == 0)
        {
            console.MarkupLine(Markup.Escape(model is null
                ? $"{cluster}: no MLRay app to remove; nothing was PUT."
                : $"{cluster}: no MLRay app of '{model}' to remove; nothing was PUT."));
            return;
        }
        console.Write(ReportRenderer.AppsTable(report.Apps));
        console.MarkupLine(Markup.Escape($"{cluster}: PUT the config without {string.Join(", ", removed)}; {kept} other app(s) kept as they were."));
        console.MarkupLine(report.Succeeded
            ? "[green]Removed.[/] [grey]The registry still selects these models: a running MLRay worker or resync deploys them again unless their ray.enabled tag is false.[/]"
            : "[red]Ray still lists some of them (see above).[/]");
    }
}
