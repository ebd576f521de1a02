using System.Diagnostics;
using MLRay.Serve;

namespace MLRay.Deploy;

public enum AppOutcome { Running, Failed, TimedOut, Pending, Removed }

/// <summary>The last seen state of one app MLRay deployed.</summary>
public sealed record AppResult(string App, string RegisteredModel, string RayStatus, AppOutcome Outcome, string Message);

/// <summary>How long and how often <see cref="Convergence.WaitAsync"/> looks at the cluster.</summary>
public sealed record WaitOptions
{
    public bool Wait { get; init; } = true;
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Overrides the cluster's <c>deploy_timeout</c>.</summary>
    public TimeSpan? Timeout { get; init; }
}

/// <summary>
/// Whether Ray runs what MLRay sent: <see cref="Judge"/> (pure) for one app, and the wait of <c>mlray deploy</c> and
/// <c>mlray undeploy</c> until every app they changed is terminal, bounded by the cluster's deadline (Ray itself never
/// times out a DEPLOYING app). The worker does not wait here: it looks again through the broker.
/// </summary>
public static class Convergence
{
    /// <summary>
    /// An app counts as done only once Ray shows the config MLRay sent (so a status left over from the previous
    /// config is never mistaken for the new one's) and a terminal status.
    /// </summary>
    public static AppResult Judge(string name, JsonObject desired, ServeInstance current)
    {
        var model = (string)desired["args"]![ServeApp.ManagedModelArg]!;
        if (!current.Applications.TryGetValue(name, out var app))
            return new AppResult(name, model, AppStatus.NotStarted, AppOutcome.Pending, "");
        if (!JsonCanon.Equal(app.DeployedAppConfig, desired))
            return new AppResult(name, model, app.Status, AppOutcome.Pending, "waiting for Ray to pick up the new config");
        return app.Status switch
        {
            AppStatus.Running => new AppResult(name, model, app.Status, AppOutcome.Running, app.Message),
            AppStatus.DeployFailed or AppStatus.Unhealthy => new AppResult(name, model, app.Status, AppOutcome.Failed, app.FailureMessage),
            _ => new AppResult(name, model, app.Status, AppOutcome.Pending, app.FailureMessage),
        };
    }

    /// <summary>A removed app is done once Ray no longer lists it (it shows DELETING until then).</summary>
    public static AppResult JudgeRemoval(AppChange removal, ServeInstance current, bool waitUntilGone) =>
        waitUntilGone && current.Applications.TryGetValue(removal.App, out var app)
            ? new AppResult(removal.App, removal.RegisteredModel!, app.Status, AppOutcome.Pending, app.FailureMessage)
            : new AppResult(removal.App, removal.RegisteredModel!, AppStatus.Deleting, AppOutcome.Removed, "removed from the cluster");

    /// <summary>
    /// Follows <paramref name="apps"/> (MLRay's apps as sent) until each is terminal and, with <paramref name="waitForRemovals"/>,
    /// each of <paramref name="removed"/> is gone. <paramref name="unchanged"/>: the cluster as read when nothing was PUT,
    /// judged without reading it again.
    /// </summary>
    public static async Task<IReadOnlyList<AppResult>> WaitAsync(RayDashboardClient ray, RayClusterConfig cluster, IReadOnlyList<JsonObject> apps,
        IReadOnlyList<AppChange> removed, ServeInstance? unchanged, bool waitForRemovals, WaitOptions options,
        Action<IReadOnlyList<AppResult>>? onProgress, CancellationToken ct)
    {
        var expected = apps.ToDictionary(a => (string)a["name"]!, StringComparer.Ordinal);
        var deadline = Stopwatch.StartNew();
        var timeout = options.Timeout ?? cluster.DeployTimeout;
        while (true)
        {
            var current = unchanged ?? await ray.GetApplicationsAsync(ct);
            unchanged = null;
            var results = expected.Select(e => Judge(e.Key, e.Value, current))
                .Concat(removed.Select(c => JudgeRemoval(c, current, waitForRemovals)))
                .ToList();
            onProgress?.Invoke(results);
            if (!results.Any(r => r.Outcome == AppOutcome.Pending) || !options.Wait)
                return results;
            if (deadline.Elapsed >= timeout)
            {
                results = results.Select(r => r.Outcome != AppOutcome.Pending ? r : r with
                {
                    Outcome = AppOutcome.TimedOut,
                    Message = RayClusterConfig.StillPendingAfter(timeout, r.RayStatus, r.Message),
                }).ToList();
                onProgress?.Invoke(results);
                return results;
            }
            await Task.Delay(options.PollInterval, ct);
        }
    }
}
