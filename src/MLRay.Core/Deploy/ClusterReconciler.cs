using MLRay.Preflight;
using MLRay.Registry;
using MLRay.Serve;
using MLRay.Verify;

namespace MLRay.Deploy;

/// <summary>
/// One reconcile of one cluster: what was read, what was decided per model version, the config to PUT, and whether it
/// was PUT. Side effects beyond the PUT (tags, letters, wake-ups) are the caller's: the worker performs them,
/// <c>mlray deploy</c> only reports.
/// </summary>
public sealed record ReconcileResult(
    RayClusterConfig Cluster,
    RegistrySnapshot Registry,
    ServeInstance Current,
    DesiredState Desired,
    IReadOnlyList<ModelPreflight> Preflight,
    AttemptPlan Attempts,
    ServePlan Plan,
    DateTimeOffset At)
{
    /// <summary>The config was PUT (it differed from what runs).</summary>
    public bool Applied { get; init; }

    public IReadOnlyList<AttemptDecision> Decisions => Attempts.Decisions;

    /// <summary>Letters this reconcile decided on (the worker publishes them before any tag).</summary>
    public IEnumerable<AttemptDecision> NewLetters => Decisions.Where(d => d.Letter is not null);

    /// <summary>The <c>mlray.&lt;cluster&gt;.status|message|endpoint</c> tags this reconcile's decisions call for.</summary>
    public IReadOnlyList<StatusTag> StatusTags => Deploy.StatusTags.FromAttempts(Desired, Attempts, Plan, Registry);

    /// <summary>The decision that wants the soonest follow-up (a check of an app in flight, or a retry), if any.</summary>
    public AttemptDecision? NextLook => Decisions.Where(d => d.LookAgainAt is not null).MinBy(d => d.LookAgainAt);
}

/// <summary>
/// The reconcile shared by the cluster worker and <c>mlray deploy</c>: read the registry and the cluster → desired state →
/// wheel pre-flight → each version's attempt facts (its <c>mlray.&lt;cluster&gt;.attempt</c> tag, its rollback target) →
/// <see cref="AttemptPolicy"/> → Serve plan (apps MLRay does not own kept) → PUT only on a change. Level-triggered and
/// without waiting: what Ray does next is judged by the next reconcile (<see cref="ReconcileResult.NextLook"/>).
/// </summary>
public sealed class ClusterReconciler(RayClusterConfig cluster, RegistryReader registry, RayDashboardClient ray, PreflightChecker? preflight,
    SmokeTests? smokeTests, IHttpClientFactory? serveHttp, TimeProvider time)
{
    public RayClusterConfig Cluster => cluster;
    public RayDashboardClient Ray => ray;

    /// <summary>The registry and the cluster, read side by side.</summary>
    public async Task<(RegistrySnapshot Registry, ServeInstance Current)> ReadAsync(CancellationToken ct = default)
    {
        var snapshot = registry.ReadSnapshotAsync(ct);
        var current = ray.GetApplicationsAsync(ct);
        await ServiceErrors.WhenAllAsync(snapshot, current); // both observed, and both reported when both fail
        return (snapshot.Result, current.Result);
    }

    /// <summary>Everything a reconcile decides, from a fresh read, without applying it or sending smoke tests (<c>mlray plan</c>).</summary>
    /// <param name="replays">Dead letters being replayed: their versions start afresh.</param>
    public Task<ReconcileResult> PlanAsync(IReadOnlySet<string>? replays = null, CancellationToken ct = default) => DecideAsync(replays, null, verify: false, ct);

    /// <param name="verify">Run the smoke tests of the versions Ray now runs (a reconcile does; a plan does not).</param>
    /// <param name="commands">Operators' rollout commands by registered model (pause, resume, promote, abort).</param>
    private async Task<ReconcileResult> DecideAsync(IReadOnlySet<string>? replays, IReadOnlyDictionary<string, RolloutCommand>? commands, bool verify, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (snapshot, current) = await ReadAsync(ct);
        ServeLayoutMigration.CheckGatewayRoute(cluster, current);
        // The wheel pre-flight first: with preflight: block, what pip would refuse is invalid (permanent, no PUT) from here on.
        var selected = DesiredState.For(cluster, snapshot.Models, current);
        var checks = preflight is null ? [] : await preflight.CheckAsync(selected, ct);
        var desired = preflight is null ? selected : ModelPreflight.Gate(selected, checks);
        var facts = await FactsAsync(desired, snapshot, ct);
        if (commands is { Count: > 0 })
            facts = facts.Select(f => commands.TryGetValue(f.RegisteredModel, out var c) ? f with { Command = c } : f).ToList();
        if (verify && smokeTests is not null) facts = await SmokeTestAsync(desired, facts, current, snapshot, ct);
        if (verify && serveHttp is not null) facts = await RolloutStatsAsync(facts, now, ct);
        var attempts = AttemptPolicy.Plan(desired, facts, current, now, replays ?? new HashSet<string>(), () => Guid.NewGuid().ToString("N"));
        var plan = ServeConfigPlanner.Plan(attempts.Applications, current, attempts.KeepAsIs, ServeLayoutMigration.Keep(cluster, attempts.Applications, current));
        return new ReconcileResult(cluster, snapshot, current, desired, checks, attempts, plan, now);
    }

    /// <summary>Plans, and PUTs the whole config when it differs from what runs.</summary>
    public Task<ReconcileResult> ReconcileAsync(IReadOnlySet<string>? replays = null, CancellationToken ct = default) => ReconcileAsync(replays, null, ct);

    /// <summary>Plans with operators' rollout commands applied, and PUTs the whole config when it differs from what runs.</summary>
    public async Task<ReconcileResult> ReconcileAsync(IReadOnlySet<string>? replays, IReadOnlyDictionary<string, RolloutCommand>? commands, CancellationToken ct = default)
    {
        var result = await DecideAsync(replays, commands, verify: true, ct);
        if (!result.Plan.NeedsPut) return result;
        await ray.PutApplicationsAsync(result.Plan.Config, ct);
        return result with { Applied = true };
    }

    /// <summary>For each selected or invalid version: its attempt state, and the app of the version to serve if it fails.</summary>
    private async Task<IReadOnlyList<AttemptPolicy.ModelFacts>> FactsAsync(DesiredState desired, RegistrySnapshot snapshot, CancellationToken ct)
    {
        var facts = new List<AttemptPolicy.ModelFacts>();
        var candidates = snapshot.Models.ToDictionary(c => c.RegisteredModel, StringComparer.Ordinal);
        var challengers = desired.Challengers.ToDictionary(c => c.Outcome.RegisteredModel, c => c.Outcome.Version!, StringComparer.Ordinal);
        AttemptState? StateOf(string model, string version) =>
            AttemptState.Parse(snapshot.TagsOf(model, version)?.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Attempt)));
        foreach (var m in desired.Models.Where(m => m.Kind is ModelOutcomeKind.Selected or ModelOutcomeKind.Invalid && m.Version is not null))
        {
            var candidate = candidates[m.RegisteredModel];
            var model = snapshot.RegisteredModels.GetValueOrDefault(m.RegisteredModel);
            var effective = DeploymentTags.Effective(model?.TagMap ?? new Dictionary<string, string>(), candidate.Version?.TagMap ?? new Dictionary<string, string>());
            var state = StateOf(m.RegisteredModel, m.Version!);
            var spec = candidate.Tags?.Spec;
            var challenger = challengers.GetValueOrDefault(m.RegisteredModel) is { } c && candidate.Challenger?.Version is { } cv
                ? new AttemptPolicy.ModelFacts(m.RegisteredModel, c, AttemptState.SpecOf(DeploymentTags.Effective(model?.TagMap ?? new Dictionary<string, string>(), cv.TagMap)),
                    StateOf(m.RegisteredModel, c), null)
                : null;
            facts.Add(new AttemptPolicy.ModelFacts(m.RegisteredModel, m.Version!, AttemptState.SpecOf(effective), state,
                m.Kind == ModelOutcomeKind.Selected && model is not null ? await LastGoodAsync(model, m.Version!, challenger?.Version, state, snapshot, ct) : null)
            {
                Challenger = challenger,
                Rollout = cluster.Serving.Rollout with
                {
                    Steps = spec?.RolloutSteps ?? cluster.Serving.Rollout.Steps,
                    Interval = spec?.RolloutInterval ?? cluster.Serving.Rollout.Interval,
                },
                Route = spec?.RoutePrefix,
            });
        }
        return facts;
    }

    /// <summary>
    /// The smoke tests due now — versions whose attempt Ray runs and that wait for theirs — run side by side, each verdict
    /// handed to the policy with its facts.
    /// </summary>
    private async Task<IReadOnlyList<AttemptPolicy.ModelFacts>> SmokeTestAsync(DesiredState desired, IReadOnlyList<AttemptPolicy.ModelFacts> facts,
        ServeInstance current, RegistrySnapshot snapshot, CancellationToken ct)
    {
        var apps = desired.Applications.ToDictionary(a => (string)a["args"]![ServeApp.ManagedModelArg]!, StringComparer.Ordinal);
        var challengerApps = desired.Challengers.ToDictionary(c => c.Outcome.RegisteredModel, c => c.App, StringComparer.Ordinal);
        var candidates = snapshot.Models.ToDictionary(c => c.RegisteredModel, StringComparer.Ordinal);
        return await Task.WhenAll(facts.Select(async f =>
        {
            if (f.Challenger is { } cf && challengerApps.TryGetValue(f.RegisteredModel, out var challengerApp)
                && AttemptPolicy.AwaitsSmokeTest(cluster, cf, challengerApp, current) && candidates[f.RegisteredModel].Challenger is { } challenger)
                f = f with { Challenger = cf with { Smoke = await SmokeTestAsync(challenger, challengerApp, cf.Version, ct) } };
            if (!apps.TryGetValue(f.RegisteredModel, out var app) || !AttemptPolicy.AwaitsSmokeTest(cluster, f, app, current)) return f;
            return f with { Smoke = await SmokeTestAsync(candidates[f.RegisteredModel], app, f.Version, ct) };
        }));
    }

    /// <summary>
    /// <c>mlray deploy</c>'s smoke tests, once its wait saw Ray run the apps it sent: each new or changed model app that runs
    /// is sent its example. Nothing is rolled back here (the CLI keeps no attempt state): the report says what failed.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, SmokeVerdict>> SmokeTestAsync(ReconcileResult result, IReadOnlyList<AppResult> apps, CancellationToken ct = default)
    {
        if (cluster.Serving.SmokeTest == SmokeTestMode.Off || smokeTests is null) return new Dictionary<string, SmokeVerdict>();
        var sent = result.Plan.Applied.Select(c => c.App).ToHashSet(StringComparer.Ordinal);
        var candidates = result.Registry.Models.ToDictionary(c => c.RegisteredModel, StringComparer.Ordinal);
        var tests = result.Desired.Applications
            .Select(app => (App: app, Model: (string)app["args"]![ServeApp.ManagedModelArg]!))
            .Where(a => apps.Any(r => r is { Outcome: AppOutcome.Running } && r.App == (string)AttemptPolicy.Layout(cluster, a.App)["name"]! && sent.Contains(r.App))
                        && candidates.TryGetValue(a.Model, out var c) && c.Version is not null)
            .Select(async a => (a.Model, Verdict: await SmokeTestAsync(candidates[a.Model], a.App, candidates[a.Model].Version!.Version, ct)));
        return (await Task.WhenAll(tests)).ToDictionary(t => t.Model, t => t.Verdict, StringComparer.Ordinal);
    }

    /// <summary>One version's smoke test: direct, the app's own route; gateway, the route the gateway serves, pinned to the version.</summary>
    private Task<SmokeVerdict> SmokeTestAsync(ModelCandidate candidate, JsonObject app, string version, CancellationToken ct)
    {
        var gateway = cluster.Serving.Traffic == TrafficMode.Gateway;
        var route = GatewayLayout.ClientRoute(cluster, (string?)app["route_prefix"] ?? "/").TrimStart('/');
        return smokeTests!.RunAsync(cluster.Serving, candidate.Version!, candidate.Tags?.Spec?.SmokeTestInput,
            new Uri(cluster.EffectiveServeAddress, route), pinVersion: gateway ? version : null, ct);
    }

    /// <summary>
    /// Gateway mode: when a rollout step is due for some model, the gateway's stats (one request for the cluster), handed
    /// to each rolling-out model's facts for its route.
    /// </summary>
    private async Task<IReadOnlyList<AttemptPolicy.ModelFacts>> RolloutStatsAsync(IReadOnlyList<AttemptPolicy.ModelFacts> facts, DateTimeOffset now, CancellationToken ct)
    {
        if (cluster.Serving.Traffic != TrafficMode.Gateway) return facts;
        bool Due(AttemptPolicy.ModelFacts f) => f.State?.Rollout is { Done: false, Paused: false, Weight: < 100 } r
                                                && now >= r.Since + (f.Rollout ?? cluster.Serving.Rollout).Interval;
        if (!facts.Any(Due)) return facts;
        var stats = await GatewayStats.ReadAsync(serveHttp!, cluster, ct);
        return facts.Select(f => Due(f) && f.Route is { } route ? f with { Stats = stats.For(GatewayLayout.ClientRoute(cluster, route)) } : f).ToList();
    }

    /// <summary>
    /// The rollback target, rebuilt as an app: the version already served instead (its own status may say DEPLOYING while
    /// Ray brings it back), else the highest other version whose tags say it runs on this cluster.
    /// </summary>
    private async Task<(string Version, JsonObject App)?> LastGoodAsync(RegisteredModel model, string version, string? challenger, AttemptState? state, RegistrySnapshot snapshot, CancellationToken ct)
    {
        // The challenger runs beside the served version: never the served version's rollback target.
        var others = snapshot.VersionsOf(model.Name).Where(v => v.Version != version && v.Version != challenger).ToList();
        var target = others.FirstOrDefault(v => v.Version == state?.ServedVersion)
            ?? others.Where(v => v.TagMap.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Status)) == DeployStatus.Running).MaxBy(v => v.Number);
        if (target is null) return null;
        var candidate = await registry.CandidateAsync(model, target, ct);
        var built = DesiredState.For(cluster, [candidate]);
        return built.Applications.FirstOrDefault() is { } app ? (target.Version, app) : null;
    }
}
