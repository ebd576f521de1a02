using System.Diagnostics;
using MLRay.Preflight;
using MLRay.Serve;

namespace MLRay.Deploy;

public enum AppOutcome { Running, Failed, TimedOut, Pending, Removed }

/// <summary>The last seen state of one app MLRay deployed.</summary>
public sealed record AppResult(string App, string RegisteredModel, string RayStatus, AppOutcome Outcome, string Message);

/// <summary>Everything a deploy did for one cluster: the model accounting, the plan, whether it PUT, and how apps ended.</summary>
public sealed record DeployReport(
    DesiredState Desired,
    ServePlan Plan,
    bool Applied,
    IReadOnlyList<AppResult> Apps,
    string? SavedConfigPath,
    bool Waited = true)
{
    /// <summary>The registry as this deploy read it (status tags are written from it without reading again).</summary>
    public RegistrySnapshot Registry { get; init; } = RegistrySnapshot.Empty;

    /// <summary>
    /// Every model meant for this cluster is valid and its app runs — or, without waiting (<c>--no-wait</c>),
    /// is still on its way and nothing has failed yet.
    /// </summary>
    public bool Succeeded =>
        Desired.Models.All(m => m.Kind is not (ModelOutcomeKind.Invalid or ModelOutcomeKind.Pending))
        && Apps.Where(a => a.Outcome != AppOutcome.Removed)
            .All(a => a.Outcome == AppOutcome.Running || (!Waited && a.Outcome == AppOutcome.Pending));
}

/// <summary>The desired state, the config to PUT, the cluster as it was read (for diffs) and the registry read it came from.</summary>
public sealed record DeployPlan(DesiredState Desired, ServePlan Plan, ServeInstance Current, RegistrySnapshot Registry)
{
    /// <summary>The wheel pre-flight of each selected model (empty with <c>preflight: off</c>); <see cref="Desired"/> already reflects <c>block</c>.</summary>
    public IReadOnlyList<ModelPreflight> Preflight { get; init; } = [];
}

public sealed record DeployOptions
{
    public bool Wait { get; init; } = true;
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Overrides the cluster's <c>deploy_timeout</c>.</summary>
    public TimeSpan? Timeout { get; init; }
    /// <summary>Where to save the desired config (<c>mlray.working_dir</c>); null saves nothing.</summary>
    public string? WorkingDir { get; init; }
}

/// <summary>
/// The deploy core shared by <c>mlray deploy</c> and the cluster worker: read what runs, compute the whole desired
/// config, PUT only if it differs, then wait until every app MLRay deployed is RUNNING or DEPLOY_FAILED, bounded
/// by the cluster's deadline (Ray itself never times out a DEPLOYING app).
/// </summary>
public sealed class ClusterDeployer(RegistryReader registry, RayDashboardClient ray, RayClusterConfig cluster, PreflightChecker? preflight = null)
{
    /// <summary>What a deploy would do, computed from a fresh registry read and a fresh read of the cluster.</summary>
    public async Task<DeployPlan> PlanAsync(CancellationToken ct = default)
    {
        var (snapshot, current) = await ReadAsync(ct);
        var (desired, checks) = await PreflightAsync(DesiredState.For(cluster, snapshot.Models, current), ct);
        return new DeployPlan(desired, ServeConfigPlanner.Plan(desired.Applications, current, desired.KeepAsIs), current, snapshot) { Preflight = checks };
    }

    /// <summary>The wheel pre-flight of the selected models, and the desired state once <c>preflight: block</c> took out what pip would refuse.</summary>
    public async Task<(DesiredState Desired, IReadOnlyList<ModelPreflight> Checks)> PreflightAsync(DesiredState desired, CancellationToken ct = default)
    {
        if (preflight is null) return (desired, []);
        var checks = await preflight.CheckAsync(desired, ct);
        return (ModelPreflight.Gate(desired, checks), checks);
    }

    /// <summary>The registry and the cluster, read side by side.</summary>
    public async Task<(RegistrySnapshot Registry, ServeInstance Current)> ReadAsync(CancellationToken ct = default)
    {
        var snapshot = registry.ReadSnapshotAsync(ct);
        var current = ray.GetApplicationsAsync(ct);
        await ServiceErrors.WhenAllAsync(snapshot, current); // both observed, and both reported when both fail
        return (snapshot.Result, current.Result);
    }

    public RayClusterConfig Cluster => cluster;
    public RegistryReader Registry => registry;
    public RayDashboardClient Ray => ray;

    public async Task<DeployReport> DeployAsync(DeployOptions options, Action<IReadOnlyList<AppResult>>? onProgress = null, CancellationToken ct = default)
    {
        var planned = await PlanAsync(ct);
        string? saved = null;
        if (options.WorkingDir is { } dir)
        {
            Directory.CreateDirectory(dir);
            saved = Path.Combine(dir, $"{cluster.Name}.serve-config.json");
            // JSON is YAML: `serve deploy` accepts this file as it is.
            await File.WriteAllTextAsync(saved, planned.Plan.Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), ct);
        }
        // A deploy reports removed apps at once: what it waits for is its models' apps running.
        return await ApplyAndWaitAsync(planned, saved, waitForRemovals: false, options, onProgress, ct);
    }

    /// <summary>
    /// What <c>mlray undeploy</c> would PUT: the running config without MLRay's apps — all of them, or only those of
    /// <paramref name="model"/> (a registered model name or an app name) — and with every other app exactly as Ray
    /// reports it. The registry is not read: undeploying needs only the cluster.
    /// </summary>
    public async Task<DeployPlan> PlanUndeployAsync(string? model, CancellationToken ct = default)
    {
        var current = await ray.GetApplicationsAsync(ct);
        // MLRay apps that stay are "kept as is": the planner then carries them over unchanged, like a foreign app.
        var staying = current.Applications.Values
            .Where(a => a.ManagedModel is not null && model is not null && a.ManagedModel != model && a.Name != model)
            .Select(a => a.ManagedModel!)
            .ToHashSet(StringComparer.Ordinal);
        var desired = new DesiredState(cluster, [], []);
        return new DeployPlan(desired, ServeConfigPlanner.Plan([], current, staying), current, RegistrySnapshot.Empty);
    }

    /// <summary>Removes MLRay's apps (see <see cref="PlanUndeployAsync"/>) with one PUT — never Ray's DELETE, which
    /// removes all of Serve — and waits until Ray no longer lists them, bounded by the deadline.</summary>
    public async Task<DeployReport> UndeployAsync(string? model, DeployOptions options, Action<IReadOnlyList<AppResult>>? onProgress = null, CancellationToken ct = default)
    {
        return await ApplyAndWaitAsync(await PlanUndeployAsync(model, ct), null, waitForRemovals: true, options, onProgress, ct);
    }

    private async Task<DeployReport> ApplyAndWaitAsync(DeployPlan planned, string? saved, bool waitForRemovals,
        DeployOptions options, Action<IReadOnlyList<AppResult>>? onProgress, CancellationToken ct)
    {
        var (desired, plan, _, snapshot) = planned;
        if (plan.NeedsPut)
        {
            await ray.PutApplicationsAsync(plan.Config, ct);
        }

        var expected = desired.Applications.ToDictionary(a => (string)a["name"]!, StringComparer.Ordinal);
        var removed = plan.Changes.Where(c => c.Kind == AppChangeKind.Removed).ToList();

        var deadline = Stopwatch.StartNew();
        var timeout = options.Timeout ?? cluster.DeployTimeout;
        // Without a PUT, what the plan read is still what runs: judge it without reading the cluster again.
        var unchanged = plan.NeedsPut ? null : planned.Current;
        while (true)
        {
            var current = unchanged ?? await ray.GetApplicationsAsync(ct);
            unchanged = null;
            var results = expected.Select(e => Judge(e.Key, e.Value, current))
                .Concat(removed.Select(c => JudgeRemoval(c, current, waitForRemovals)))
                .ToList();
            onProgress?.Invoke(results);
            var pending = results.Any(r => r.Outcome == AppOutcome.Pending);
            if (!pending || !options.Wait)
                return new DeployReport(desired, plan, plan.NeedsPut, results, saved, options.Wait) { Registry = snapshot };
            if (deadline.Elapsed >= timeout)
            {
                results = results.Select(r => r.Outcome != AppOutcome.Pending ? r : r with
                {
                    Outcome = AppOutcome.TimedOut,
                    Message = RayClusterConfig.StillPendingAfter(timeout, r.RayStatus, r.Message),
                }).ToList();
                onProgress?.Invoke(results);
                return new DeployReport(desired, plan, plan.NeedsPut, results, saved) { Registry = snapshot };
            }
            await Task.Delay(options.PollInterval, ct);
        }
    }

    /// <summary>A removed app is done once Ray no longer lists it (it shows DELETING until then).</summary>
    private static AppResult JudgeRemoval(AppChange removal, ServeInstance current, bool waitUntilGone) =>
        waitUntilGone && current.Applications.TryGetValue(removal.App, out var app)
            ? new AppResult(removal.App, removal.RegisteredModel!, app.Status, AppOutcome.Pending, app.FailureMessage)
            : new AppResult(removal.App, removal.RegisteredModel!, AppStatus.Deleting, AppOutcome.Removed, "removed from the cluster");

    /// <summary>
    /// An app counts as done only once Ray shows the config MLRay sent (so a status left over from the previous
    /// config is never mistaken for the new one's) and a terminal status.
    /// </summary>
    internal static AppResult Judge(string name, JsonObject desired, ServeInstance current)
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
}
