using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>
/// What <c>mlray deploy</c> or <c>mlray undeploy</c> did for one cluster: the model accounting, each version's decision,
/// the plan, whether it PUT, and how the apps ended.
/// </summary>
public sealed record DeployReport(
    DesiredState Desired,
    ServePlan Plan,
    bool Applied,
    IReadOnlyList<AppResult> Apps,
    string? SavedConfigPath,
    bool Waited = true)
{
    /// <summary>The smoke test of each model whose new app Ray ran, by registered model (none with <c>smoke_test: off</c>).</summary>
    public IReadOnlyDictionary<string, Verify.SmokeVerdict> SmokeTests { get; init; } = new Dictionary<string, Verify.SmokeVerdict>();

    /// <summary>The reconcile's decision per version (none for an undeploy).</summary>
    public IReadOnlyList<AttemptDecision> Decisions { get; init; } = [];

    /// <summary>
    /// Versions the pipeline gave up on (a dead letter exists): not PUT again until <c>mlray dlq replay</c>. A letter this
    /// deploy merely decided on is not among them: the CLI writes no letter, so those count as failed.
    /// </summary>
    public IEnumerable<AttemptDecision> DeadLettered =>
        Decisions.Where(d => d is { Phase: AttemptPhase.DeadLettered, Letter: null, State.DeadLetter: not null });

    /// <summary>The config file the command was given, for the commands the report suggests.</summary>
    public string ConfigPath { get; init; } = "config.yml";

    /// <summary>The command that replays a version's letter.</summary>
    public string ReplayCommand(AttemptDecision d) => $"mlray dlq replay {ConfigPath} {Desired.Cluster.Name} --id {d.State.DeadLetter}";

    /// <summary>
    /// Every model meant for this cluster is valid, was not given up on, and its app runs — or, without waiting
    /// (<c>--no-wait</c>), is still on its way and nothing has failed yet.
    /// </summary>
    public bool Succeeded =>
        Desired.Models.All(m => m.Kind is not (ModelOutcomeKind.Invalid or ModelOutcomeKind.Pending))
        && Decisions.All(d => d.Phase is AttemptPhase.Running or AttemptPhase.Deploying)
        && Apps.Where(a => a.Outcome != AppOutcome.Removed)
            .All(a => a.Outcome == AppOutcome.Running || (!Waited && a.Outcome == AppOutcome.Pending))
        && SmokeTests.Values.All(v => v.LetsThrough);

    /// <summary>A deploy's report: the reconcile, then the apps as the wait left them.</summary>
    public static DeployReport Of(ReconcileResult reconcile, IReadOnlyList<AppResult> apps, string? saved, bool waited) =>
        new(reconcile.Desired, reconcile.Plan, reconcile.Applied, apps, saved, waited) { Decisions = reconcile.Decisions };
}

/// <summary>Pure: what <c>mlray undeploy</c> PUTs. The registry is not read: undeploying needs only the cluster.</summary>
public static class UndeployPlan
{
    /// <summary>
    /// The running config without MLRay's apps — all of them, or only those of <paramref name="model"/> (a registered model
    /// name or an app name) — and with every other app exactly as Ray reports it.
    /// </summary>
    public static (DesiredState Desired, ServePlan Plan) For(RayClusterConfig cluster, ServeInstance current, string? model)
    {
        // MLRay apps that stay are "kept as is": the planner then carries them over unchanged, like a foreign app.
        var staying = current.Applications.Values
            .Where(a => a.ManagedModel is not null && model is not null && a.ManagedModel != model && a.Name != model)
            .Select(a => a.ManagedModel!)
            .ToHashSet(StringComparer.Ordinal);
        return (new DesiredState(cluster, [], []), ServeConfigPlanner.Plan([], current, staying));
    }
}
