using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>
/// Where one model version stands on one cluster, kept as JSON in its <c>mlray.&lt;cluster&gt;.attempt</c> tag, so every
/// worker instance shares it and it survives restarts. Reset whenever the model's <c>ray.*</c> tags change
/// (<see cref="Spec"/>); a new version starts with none.
/// </summary>
public sealed record AttemptState
{
    /// <summary>Hash of the effective <c>ray.*</c> tags this state is about.</summary>
    public string Spec { get; init; } = "";
    /// <summary>Install attempts made (the PUTs of this version's app).</summary>
    public int Attempts { get; init; }
    /// <summary>When the current attempt was applied (its deadline is <c>deploy_timeout</c> later).</summary>
    public DateTimeOffset? StartedAt { get; init; }
    /// <summary>When the next attempt is due, while waiting between attempts.</summary>
    public DateTimeOffset? RetryAt { get; init; }
    public DateTimeOffset? FirstFailure { get; init; }
    public DateTimeOffset? LastFailure { get; init; }
    /// <summary>The dead letter's id once MLRay stopped trying: nothing is attempted until it is replayed.</summary>
    public string? DeadLetter { get; init; }
    /// <summary>
    /// Why the last attempt failed, summarized: later reconciles (while waiting, after giving up) write the same message
    /// again instead of one without the why.
    /// </summary>
    public string? Error { get; init; }
    /// <summary>
    /// A dead letter written for this version before its <c>ray.*</c> tags changed: still listed in the dead-letter queue,
    /// it is removed once the version runs (a letter for a version that serves would send ops after a fixed problem).
    /// </summary>
    public string? StaleDeadLetter { get; init; }
    /// <summary>
    /// The version that serves instead while this one waits or was given up on (the rollback target), kept so that later
    /// reconciles roll back to the same version while its own status is DEPLOYING again, and across a reset.
    /// </summary>
    public string? ServedVersion { get; init; }
    /// <summary>
    /// The current attempt's smoke test: <see cref="SmokeTestPending"/> from its PUT until Ray runs it and the test is
    /// judged, then the verdict's text (<see cref="Verify.SmokeVerdict"/>). Null when the cluster does not test.
    /// </summary>
    public string? SmokeTest { get; init; }
    public const string SmokeTestPending = "pending";
    /// <summary>The version's rollout through the gateway (<c>traffic: gateway</c>), once it passed its smoke test.</summary>
    public RolloutState? Rollout { get; init; }

    public string ToJson() => TagJson.Write(this);

    /// <summary>The state in a tag, or null when absent or unreadable (someone edited it: start afresh).</summary>
    public static AttemptState? Parse(string? json) => TagJson.Read<AttemptState>(json);

    /// <summary>Hash of the <c>ray.*</c> tags in force: the "something about the model changed" test.</summary>
    public static string SpecOf(IReadOnlyDictionary<string, string> effectiveTags) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n",
            effectiveTags.Where(t => t.Key.StartsWith("ray.", StringComparison.Ordinal)).OrderBy(t => t.Key, StringComparer.Ordinal)
                .Select(t => $"{t.Key}={t.Value}")))))[..16];
}

/// <summary>What a reconcile decided for one model version on the cluster.</summary>
public enum AttemptPhase
{
    /// <summary>Its app is applied (or carried on) and Ray has not finished with it.</summary>
    Deploying,
    Running,
    /// <summary>An attempt failed; the next one is due at <see cref="AttemptState.RetryAt"/>. The last good version serves meanwhile.</summary>
    WaitingToRetry,
    /// <summary>Given up: a dead letter is (or was) written; the last good version serves, or the app is removed.</summary>
    DeadLettered,
    /// <summary>Gateway mode: it passed its smoke test and takes a growing share of its route's traffic.</summary>
    RollingOut,
    /// <summary>Its model has no <c>ray.*</c> tags yet: nothing attempted, nothing dead-lettered, a running app kept.</summary>
    Pending,
}

/// <summary>A dead letter to publish, in the pure core's terms (the pipeline adds delivery ids and the cluster).</summary>
public sealed record DeadLetterDecision(string Id, string FailureClass, string Message, int Attempts, DateTimeOffset FirstFailure, DateTimeOffset LastFailure);

/// <summary>One model version's decision: its app (or none), its phase, its new attempt state, and a letter if one is due.</summary>
public sealed record AttemptDecision(
    string RegisteredModel,
    string Version,
    string? AppName,
    AttemptPhase Phase,
    string Message,
    AttemptState State,
    bool StateChanged,
    DeadLetterDecision? Letter,
    /// <summary>When this version wants the worker to look again (a follow-up check or a retry), if at all.</summary>
    DateTimeOffset? LookAgainAt,
    /// <summary>The version that serves instead while this one waits or was given up on (rollback), if any.</summary>
    string? ServedVersion)
{
    /// <summary>A dead letter of this version's to take out of the queue now that it runs (<see cref="AttemptState.StaleDeadLetter"/>).</summary>
    public string? RemoveLetter { get; init; }

    /// <summary>
    /// How Ray showed <see cref="ServedVersion"/>'s app when this reconcile read the cluster (pending when this reconcile's
    /// PUT changes it): its status tag follows it, and the worker looks again until it is terminal.
    /// </summary>
    public AppResult? Served { get; init; }

    /// <summary>The model's route as clients send it (its endpoint), whatever the layout.</summary>
    public string? Route { get; init; }

    /// <summary>Gateway mode: who serves the model's route after this reconcile, and with which weights.</summary>
    public GatewayRoute? Traffic { get; init; }

    /// <summary>The model's challenger version (<c>mlflow.challenger_alias</c>), deployed beside the served one.</summary>
    public bool Challenger { get; init; }
}

/// <summary>The desired apps after failure handling, with a decision per model version it concerns.</summary>
public sealed record AttemptPlan(IReadOnlyList<JsonObject> Applications, IReadOnlyList<AttemptDecision> Decisions, IReadOnlySet<string> KeepAsIs);

/// <summary>
/// Pure: turns the desired state (what the registry selects) into what to PUT when installs fail. Each selected version
/// is attempted up to <c>retry.attempts</c> times, each attempt visible to Ray as a new <c>runtime_env</c>
/// (<see cref="AttemptEnvVar"/>, from the second attempt on) so neither the bad-env cache nor an unchanged deployment
/// answers it; between attempts and after the last one, the model's last good version serves (or, if it never ran,
/// its app is removed), followed like any other app until Ray runs it. Invalid models are dead-lettered at once and keep
/// what they run. Dead-lettered versions are never attempted again until replayed or the model changes.
/// One method per phase a version can be in.
/// </summary>
public static class AttemptPolicy
{
    public const string AttemptEnvVar = "MLRAY_ATTEMPT";

    /// <summary>What the policy needs to know about one selected or invalid model, beyond the desired state.</summary>
    public sealed record ModelFacts(
        string RegisteredModel,
        string Version,
        string Spec,
        AttemptState? State,
        /// <summary>The app of the model's last version that ran on this cluster (not this one), rebuilt from the registry.</summary>
        (string Version, JsonObject App)? LastGood)
    {
        /// <summary>The smoke test run by this reconcile because Ray runs the attempt (<see cref="AwaitsSmokeTest"/>), if one was.</summary>
        public Verify.SmokeVerdict? Smoke { get; init; }
        /// <summary>The rollout settings in force for this model (the cluster's, overridden by <c>ray.rollout.*</c> tags).</summary>
        public RolloutSettings? Rollout { get; init; }
        /// <summary>The facts of the model's challenger version (<see cref="DesiredState.Challengers"/>), when it has one.</summary>
        public ModelFacts? Challenger { get; init; }
        /// <summary>An operator's command for the model's rollout, applied by this reconcile.</summary>
        public RolloutCommand? Command { get; init; }
        /// <summary>The model's route (<c>ray.route_prefix</c>).</summary>
        public string? Route { get; init; }
        /// <summary>The gateway's stats of the model's route, by version, when a rollout step is due.</summary>
        public IReadOnlyDictionary<string, VersionStats>? Stats { get; init; }
    }

    /// <summary>
    /// Whether the version's attempt waits for its smoke test and Ray now runs exactly that attempt: the reconcile runs the
    /// test (I/O) and hands the verdict in as <see cref="ModelFacts.Smoke"/>.
    /// </summary>
    public static bool AwaitsSmokeTest(RayClusterConfig cluster, ModelFacts f, JsonObject wanted, ServeInstance current)
    {
        if (f.State is not { SmokeTest: AttemptState.SmokeTestPending, DeadLetter: null, RetryAt: null, Attempts: > 0 } s || s.Spec != f.Spec) return false;
        var app = WithAttempt(Layout(cluster, wanted), s.Attempts);
        if (Convergence.Judge((string)app["name"]!, app, current).Outcome != AppOutcome.Running) return false;
        // Through the gateway, the pinned request needs the gateway running with the version in its table.
        return cluster.Serving.Traffic != TrafficMode.Gateway
               || current.Applications.GetValueOrDefault(GatewayLayout.AppName) is { Status: AppStatus.Running } gateway
               && GatewayLayout.RoutesOf(gateway.DeployedAppConfig, cluster.Serving.Gateway.RoutePrefix)
                   .Any(r => r.RegisteredModel == f.RegisteredModel && r.Versions.Any(v => v.Version == f.Version));
    }

    /// <summary>A model's app as the cluster's layout has it: as built (direct), or its version app (gateway).</summary>
    public static JsonObject Layout(RayClusterConfig cluster, JsonObject directApp) =>
        cluster.Serving.Traffic == TrafficMode.Gateway ? GatewayLayout.VersionApp(directApp) : directApp;

    /// <summary>One reconcile's inputs that every phase reads.</summary>
    private sealed record Context(RayClusterConfig Cluster, ServeInstance Current, DateTimeOffset Now, Func<string> NewId)
    {
        public RetrySettings Retry => Cluster.Retry;
        public bool Gateway => Cluster.Serving.Traffic == TrafficMode.Gateway;
    }

    public static AttemptPlan Plan(DesiredState desired, IReadOnlyList<ModelFacts> facts, ServeInstance current,
        DateTimeOffset now, IReadOnlySet<string> replays, Func<string> newId)
    {
        var ctx = new Context(desired.Cluster, current, now, newId);
        var byModel = facts.ToDictionary(f => f.RegisteredModel, StringComparer.Ordinal);
        var appsByModel = desired.Applications.ToDictionary(a => (string)a["args"]![ServeApp.ManagedModelArg]!, StringComparer.Ordinal);
        var challengers = desired.Challengers.ToDictionary(c => c.Outcome.RegisteredModel, StringComparer.Ordinal);
        var apps = new List<JsonObject>();
        var decisions = new List<AttemptDecision>();

        foreach (var m in desired.Models)
        {
            var f = byModel.GetValueOrDefault(m.RegisteredModel);
            if (m is { Kind: ModelOutcomeKind.Pending, Version: { } pendingVersion })
            {
                decisions.Add(Pending(m.RegisteredModel, pendingVersion, f?.State));
                continue;
            }
            if (f is null || m.Version is null)
            {
                if (appsByModel.TryGetValue(m.RegisteredModel, out var untouched)) apps.Add(untouched);
                continue;
            }
            var state = Current(f, replays);
            var changed = !ReferenceEquals(state, f.State);
            if (m.Kind == ModelOutcomeKind.Invalid)
            {
                decisions.Add(state.DeadLetter is null ? Invalid(ctx, m, state)
                    // Already given up on and nothing about it changed: said again (no new letter), so `mlray deploy` can name the letter.
                    : new AttemptDecision(m.RegisteredModel, m.Version, m.AppName, AttemptPhase.DeadLettered, string.Join("\n", m.Problems), state, changed, null, null, null));
                continue;
            }
            if (m.Kind != ModelOutcomeKind.Selected || !appsByModel.TryGetValue(m.RegisteredModel, out var direct))
                continue;

            var wanted = Layout(ctx.Cluster, direct);
            if (ctx.Gateway && f.LastGood is { } good) f = f with { LastGood = (good.Version, GatewayLayout.VersionApp(good.App)) };
            var (app, decision) =
                state.DeadLetter is not null ? GivenUp(ctx, m, (string)wanted["name"]!, f, state, changed)
                : state.RetryAt is { } due && due > now ? WaitingToRetry(ctx, m, (string)wanted["name"]!, f, state, changed)
                : state.Attempts == 0 || state.RetryAt is not null ? StartAttempt(ctx, m, wanted, state)
                : InFlight(ctx, m, wanted, f, state, changed);
            decision = decision with { Route = GatewayLayout.ClientRoute(ctx.Cluster, (string)direct["route_prefix"]!) };
            if (ctx.Gateway)
            {
                var (served, traffic) = GatewayServing(ctx, (string)direct["route_prefix"]!, app, decision, f);
                apps.AddRange(served);
                decision = GatewayRoutes(ctx, decision with { Traffic = traffic });
                if (challengers.TryGetValue(m.RegisteredModel, out var challenger) && f.Challenger is { } cf)
                {
                    var (challengerApp, challengerDecision) = Challenge(ctx, challenger, cf, replays, decision);
                    if (challengerApp is not null) apps.Add(challengerApp);
                    decision = decision with { Traffic = WithChallenger(decision.Traffic, challenger, challengerApp, challengerDecision) };
                    decisions.Add(challengerDecision);
                }
                decisions.Add(decision);
            }
            else
            {
                if (app is not null) apps.Add(app);
                decisions.Add(decision);
            }
        }
        if (ctx.Gateway)
        {
            // Models whose state could not be recomputed keep their routes as the running gateway has them.
            var kept = GatewayLayout.RoutesOf(current.Applications.GetValueOrDefault(GatewayLayout.AppName)?.DeployedAppConfig, ctx.Cluster.Serving.Gateway.RoutePrefix)
                .Where(r => desired.KeepAsIs.Contains(r.RegisteredModel));
            apps.Add(GatewayLayout.GatewayApp(ctx.Cluster, decisions.Select(d => d.Traffic).OfType<GatewayRoute>().Concat(kept)));
            Drain(ctx, apps, decisions);
        }
        return new AttemptPlan(apps, decisions, new HashSet<string>(desired.KeepAsIs, StringComparer.Ordinal));
    }

    /// <summary>
    /// A version app leaves only once the running gateway no longer routes to it: while Ray still applies the table that
    /// drops it (a rollback, an abort, a removed challenger) the gateway's replicas may call it, so it stays as deployed
    /// and its model is looked at again in a second.
    /// </summary>
    private static void Drain(Context ctx, List<JsonObject> apps, List<AttemptDecision> decisions)
    {
        if (ctx.Current.Applications.GetValueOrDefault(GatewayLayout.AppName) is not { } gateway) return;
        var routed = GatewayLayout.RoutesOf(gateway.DeployedAppConfig, ctx.Cluster.Serving.Gateway.RoutePrefix)
            .SelectMany(r => r.Versions.Select(v => v.App).Concat(r.Shadow.Select(v => v.App))).ToHashSet(StringComparer.Ordinal);
        var wanted = apps.Select(a => (string)a["name"]!).ToHashSet(StringComparer.Ordinal);
        foreach (var app in ctx.Current.Applications.Values.Where(a => a is { ManagedModel: not null, RoutePrefix: null, DeployedAppConfig: not null } && !wanted.Contains(a.Name)))
        {
            if (gateway.Status == AppStatus.Running && !routed.Contains(app.Name)) continue;
            apps.Add((JsonObject)app.DeployedAppConfig!.DeepClone());
            var owner = decisions.FindIndex(d => d.RegisteredModel == app.ManagedModel && !d.Challenger);
            var soon = ctx.Now + CheckDelay(TimeSpan.Zero);
            if (owner >= 0 && (decisions[owner].LookAgainAt ?? DateTimeOffset.MaxValue) > soon)
                decisions[owner] = decisions[owner] with { LookAgainAt = soon };
        }
    }

    /// <summary>
    /// A version runs for clients once the running gateway routes to it: until Ray shows the gateway RUNNING with the table
    /// that gives it its weight (a lightweight update takes a moment), it is still deploying, and looked at again soon.
    /// </summary>
    private static AttemptDecision GatewayRoutes(Context ctx, AttemptDecision d)
    {
        if (d is not { Phase: AttemptPhase.Running, Traffic: { } route }) return d;
        var gateway = ctx.Current.Applications.GetValueOrDefault(GatewayLayout.AppName);
        var live = GatewayLayout.RoutesOf(gateway?.DeployedAppConfig, ctx.Cluster.Serving.Gateway.RoutePrefix).FirstOrDefault(r => r.Route == route.Route);
        var wanted = route.Versions.FirstOrDefault(v => v.Version == d.Version)?.Weight ?? 0;
        var routed = live?.Versions.FirstOrDefault(v => v.Version == d.Version)?.Weight;
        if (gateway?.Status == AppStatus.Running && routed is { } weight && (weight > 0 || wanted == 0)) return d;
        return d with { Phase = AttemptPhase.Deploying, Message = $"verified; waiting for the gateway on {ctx.Cluster.Name} to route {route.Route} to it", LookAgainAt = ctx.Now + CheckDelay(TimeSpan.Zero) };
    }

    /// <summary>
    /// A challenger goes through the same attempts as any version (install, smoke test pinned through the gateway, retries,
    /// dead letter) but never rolls out: verified, it keeps its weight or shadow beside the served version, and a failed
    /// one is only removed (the served version is not touched).
    /// </summary>
    private static (JsonObject?, AttemptDecision) Challenge(Context ctx, ChallengerApp challenger, ModelFacts f, IReadOnlySet<string> replays, AttemptDecision served)
    {
        var m = challenger.Outcome;
        var wanted = GatewayLayout.VersionApp(challenger.App);
        var name = (string)wanted["name"]!;
        f = f with { LastGood = null };
        var state = Current(f, replays);
        var changed = !ReferenceEquals(state, f.State);
        var (app, decision) =
            state.DeadLetter is not null ? GivenUp(ctx, m, name, f, state, changed)
            : state.RetryAt is { } due && due > ctx.Now ? WaitingToRetry(ctx, m, name, f, state, changed)
            : state.Attempts == 0 || state.RetryAt is not null ? StartAttempt(ctx, m, wanted, state)
            : InFlight(ctx, m, wanted, f, state, changed, challenger: true);
        var share = challenger.Shadow > 0 ? $"a {challenger.Shadow.ToString(System.Globalization.CultureInfo.InvariantCulture)} shadow copy of {served.Route}"
            : $"{GatewayLayout.Percent(challenger.Weight)} of {served.Route}" + (challenger.Weight == 0 ? " (pinned requests only)" : "");
        return (app, decision with
        {
            Route = served.Route, Challenger = true,
            Message = decision.Phase == AttemptPhase.Running ? $"challenger beside version {served.Version}: {share}" : decision.Message,
        });
    }

    /// <summary>The route's table with the challenger in it: at weight 0 until verified, then its weight (the served versions share the rest) or its shadow.</summary>
    private static GatewayRoute? WithChallenger(GatewayRoute? route, ChallengerApp challenger, JsonObject? app, AttemptDecision d)
    {
        if (route is null || app is null) return route;
        var version = d.Version;
        var appName = (string)app["name"]!;
        var verified = d.Phase == AttemptPhase.Running;
        if (verified && challenger.Shadow > 0)
            return route with { Shadow = [.. route.Shadow, new ShadowShare(version, appName, challenger.Shadow)] };
        var weight = verified ? challenger.Weight : 0;
        var rest = 100 - weight;
        var total = route.Versions.Sum(v => v.Weight);
        var scaled = route.Versions.Select(v => v with { Weight = total == 0 ? 0 : (int)Math.Round(v.Weight * (double)rest / total) }).ToList();
        if (total > 0 && scaled.Count > 0)
        {
            var largest = scaled.IndexOf(scaled.MaxBy(v => v.Weight)!);
            scaled[largest] = scaled[largest] with { Weight = scaled[largest].Weight + rest - scaled.Sum(v => v.Weight) };
        }
        return route with { Versions = [.. scaled, new VersionShare(version, appName, weight)] };
    }

    /// <summary>
    /// Gateway mode: the version apps one model's decision keeps on the cluster and its route's weights. A new attempt
    /// joins at weight 0 (pinned requests only: its smoke test) beside the version serving; a rollout splits by its
    /// weight; a failed or given-up version leaves its route to the last good version.
    /// </summary>
    private static (IReadOnlyList<JsonObject> Apps, GatewayRoute? Traffic) GatewayServing(Context ctx, string route, JsonObject? app, AttemptDecision d, ModelFacts f)
    {
        VersionShare Share(JsonObject a, int weight) => new((string)a["args"]![ServeApp.ManagedVersionArg]!, (string)a["name"]!, weight);
        GatewayRoute Route(params VersionShare[] shares) => new(route, d.RegisteredModel, [.. shares.Where(s => s is not null)], []);
        var previous = f.LastGood?.App;
        switch (d.Phase)
        {
            case AttemptPhase.Deploying when app is not null:
                return previous is null || previous["name"]!.GetValue<string>() == app["name"]!.GetValue<string>()
                    ? ([app], Route(Share(app, 0)))
                    : ([app, previous], Route(Share(previous, 100), Share(app, 0)));
            case AttemptPhase.RollingOut when app is not null && d.State.Rollout is { } r:
                return previous is null ? ([app], Route(Share(app, 100)))
                    : ([app, previous], Route(Share(previous, 100 - r.Weight), Share(app, r.Weight)));
            case AttemptPhase.Running when app is not null:
                return ([app], Route(Share(app, 100)));
            default:
                return app is null ? ([], null) : ([app], Route(Share(app, 100)));
        }
    }

    /// <summary>The version's state: as its tag says, or afresh when its <c>ray.*</c> tags changed or its letter is replayed.</summary>
    private static AttemptState Current(ModelFacts f, IReadOnlySet<string> replays) =>
        f.State is { } s && s.Spec == f.Spec && !(s.DeadLetter is { } id && replays.Contains(id)) ? s
            // A replay removes its own letter; a changed spec leaves the old one listed until the version runs.
            : new AttemptState
            {
                Spec = f.Spec,
                StaleDeadLetter = f.State is { } old && old.Spec != f.Spec ? old.DeadLetter ?? old.StaleDeadLetter : null,
                ServedVersion = f.State?.ServedVersion,
            };

    /// <summary>No <c>ray.*</c> tags yet: nothing attempted, nothing dead-lettered, a running app kept.</summary>
    private static AttemptDecision Pending(string model, string version, AttemptState? known) =>
        new(model, version, null, AttemptPhase.Pending, DesiredState.PendingMessage, known ?? new AttemptState(), false, null, null, null);

    /// <summary>Retrying cannot help: dead-lettered at once (what it runs is kept).</summary>
    private static AttemptDecision Invalid(Context ctx, ModelOutcome m, AttemptState state)
    {
        var message = string.Join("\n", m.Problems);
        var letter = new DeadLetterDecision(ctx.NewId(), FailureClass.Permanent, message, 0, ctx.Now, ctx.Now);
        return new AttemptDecision(m.RegisteredModel, m.Version!, m.AppName, AttemptPhase.DeadLettered, message,
            state with { DeadLetter = letter.Id, FirstFailure = ctx.Now, LastFailure = ctx.Now, RetryAt = null }, true, letter, null, null);
    }

    /// <summary>Dead-lettered earlier: the last good version serves until a replay or a change of the model.</summary>
    private static (JsonObject?, AttemptDecision) GivenUp(Context ctx, ModelOutcome m, string name, ModelFacts f, AttemptState state, bool changed)
    {
        var (app, served, judged, kept) = Fallback(ctx, name, f, state);
        var decision = new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.DeadLettered,
            DeadLetteredMessage(state, ctx.Retry), kept, changed || kept != state, null, FollowUp(ctx, kept, judged, null), served) { Served = judged };
        return (app, decision);
    }

    /// <summary>An attempt failed and the next is not due yet: the last good version serves meanwhile.</summary>
    private static (JsonObject?, AttemptDecision) WaitingToRetry(Context ctx, ModelOutcome m, string name, ModelFacts f, AttemptState state, bool changed)
    {
        var (app, served, judged, kept) = Fallback(ctx, name, f, state);
        var decision = new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.WaitingToRetry,
            WaitingMessage(state, ctx.Retry), kept, changed || kept != state, null, FollowUp(ctx, kept, judged, state.RetryAt), served) { Served = judged };
        return (app, decision);
    }

    /// <summary>A new version, or a retry that is due: PUT this attempt's app.</summary>
    private static (JsonObject?, AttemptDecision) StartAttempt(Context ctx, ModelOutcome m, JsonObject wanted, AttemptState state)
    {
        var attempt = state.Attempts + 1;
        var cluster = ctx.Cluster.Name;
        var decision = new AttemptDecision(m.RegisteredModel, m.Version!, (string)wanted["name"]!, AttemptPhase.Deploying,
            attempt == 1 ? $"applied to {cluster}; waiting for Ray" : $"attempt {attempt} of {ctx.Retry.Attempts} applied to {cluster}; waiting for Ray",
            state with
            {
                Attempts = attempt, StartedAt = ctx.Now, RetryAt = null,
                SmokeTest = ctx.Cluster.Serving.SmokeTest == SmokeTestMode.Off ? null : AttemptState.SmokeTestPending,
            }, true, null, ctx.Now + CheckDelay(TimeSpan.Zero), null);
        return (WithAttempt(wanted, attempt), decision);
    }

    /// <summary>An attempt is in flight: judge what Ray shows of exactly this attempt's config; on failure retry or give up.</summary>
    private static (JsonObject?, AttemptDecision) InFlight(Context ctx, ModelOutcome m, JsonObject wanted, ModelFacts f, AttemptState state, bool changed, bool challenger = false)
    {
        var (cluster, now, retry) = (ctx.Cluster, ctx.Now, ctx.Retry);
        var name = (string)wanted["name"]!;
        var inFlight = WithAttempt(wanted, state.Attempts);
        var judged = Convergence.Judge(name, inFlight, ctx.Current);
        var started = state.StartedAt ?? now;
        var failure = judged.Outcome == AppOutcome.Failed ? judged.Message
            : judged.Outcome == AppOutcome.Pending && now - started >= cluster.DeployTimeout
                ? RayClusterConfig.StillPendingAfter(cluster.DeployTimeout, judged.RayStatus, judged.Message)
                : null;
        var failureClass = FailureClass.Install;
        if (failure is null && judged.Outcome == AppOutcome.Running && state.SmokeTest == AttemptState.SmokeTestPending)
        {
            // Ray runs it; only its answer to its own input example lets it count as running.
            if (f.Smoke is not { } smoke)
                return (inFlight, new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.Deploying,
                    $"running on {cluster.Name}; smoke test next", state, changed, null, now + CheckDelay(TimeSpan.Zero), null));
            if (smoke.Outcome == Verify.SmokeOutcome.MissingExample)
                return Permanent(ctx, m, name, f, state with { SmokeTest = smoke.Text }, smoke.Text, FailureClass.Permanent);
            if (smoke.LetsThrough) state = state with { SmokeTest = smoke.Text };
            else
            {
                failure = $"smoke test {smoke.Text}";
                failureClass = FailureClass.Verify;
                state = state with { SmokeTest = smoke.Text };
            }
            changed = true;
        }
        if (failure is null && ctx.Gateway && !challenger && judged.Outcome == AppOutcome.Running && state.SmokeTest != AttemptState.SmokeTestPending)
        {
            if (f.Command == RolloutCommand.Abort && state.Rollout is { Done: false })
                return Permanent(ctx, m, name, f, state with { Rollout = null }, RolloutCommands.AbortReason, FailureClass.Rollout);
            var (rolled, why, lookAgain, rolloutFailure) = Roll(ctx, m, f, state);
            if (rolled != state) { state = rolled; changed = true; }
            if (rolloutFailure is not null)
            {
                failure = rolloutFailure;
                failureClass = FailureClass.Rollout;
            }
            else if (state.Rollout is { Done: false })
                return (inFlight, new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.RollingOut, why, state, changed, null, lookAgain, null));
        }
        if (failure is null)
        {
            var running = judged.Outcome == AppOutcome.Running;
            var stale = running ? state.StaleDeadLetter : null;
            return (inFlight, new AttemptDecision(m.RegisteredModel, m.Version!, name, running ? AttemptPhase.Running : AttemptPhase.Deploying,
                running ? "" : judged.Message, stale is null ? state : state with { StaleDeadLetter = null }, changed || stale is not null,
                null, running ? null : now + CheckDelay(now - started), null) { RemoveLetter = stale });
        }

        var failed = state with { FirstFailure = state.FirstFailure ?? now, LastFailure = now, Error = RayMessage.Summarize(failure, MaxErrorLength) };
        if (state.Attempts >= retry.Attempts)
        {
            var letter = new DeadLetterDecision(ctx.NewId(), failureClass, failure, state.Attempts, failed.FirstFailure!.Value, now);
            var (app, served, rollback, dead) = Fallback(ctx, name, f, failed with { DeadLetter = letter.Id, RetryAt = null });
            return (app, new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.DeadLettered,
                DeadLetteredMessage(dead, retry), dead, true, letter, FollowUp(ctx, dead, rollback, null), served) { Served = rollback });
        }
        var (previous, instead, judgedPrevious, waiting) = Fallback(ctx, name, f, failed with { RetryAt = now + retry.DelayAfter(state.Attempts) });
        return (previous, new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.WaitingToRetry,
            WaitingMessage(waiting, retry), waiting, true, null, FollowUp(ctx, waiting, judgedPrevious, waiting.RetryAt), instead) { Served = judgedPrevious });
    }

    /// <summary>
    /// Gateway mode, a verified version: start its rollout from the version serving (or take the route at once when there
    /// is none), advance it a step when the gateway's stats allow, hold it while paused, and finish it one interval after
    /// 100 % (the previous version's app goes then). Returns the new state, what the status message says, when to look
    /// again, and why it failed if the stats say so.
    /// </summary>
    private static (AttemptState State, string Why, DateTimeOffset? LookAgain, string? Failure) Roll(Context ctx, ModelOutcome m, ModelFacts f, AttemptState state)
    {
        var settings = f.Rollout ?? ctx.Cluster.Serving.Rollout;
        var now = ctx.Now;
        var r = state.Rollout;
        if (r is { Done: false } && f.Command is { } command)
        {
            var steps = settings.Steps;
            r = command switch
            {
                RolloutCommand.Pause => r with { Paused = true },
                RolloutCommand.Resume when r.Paused => r with { Paused = false, Since = now },
                RolloutCommand.Promote => r with { Paused = false, Weight = 100, Step = Math.Max(steps.Count - 1, 0), Since = now },
                _ => r,
            };
            state = state with { Rollout = r };
        }
        if (r is null)
        {
            r = f.LastGood is { } from
                ? new RolloutState { Step = 0, Weight = settings.Steps.Count > 0 ? settings.Steps[0] : 100, Since = now, From = from.Version }
                : new RolloutState { Weight = 100, Since = now, Done = true };
            state = state with { Rollout = r };
        }
        else if (!r.Done && !r.Paused)
        {
            if (r.Weight < 100)
            {
                var verdict = RolloutAnalysis.Judge(settings, r, f.Stats?.GetValueOrDefault(m.Version!), r.From is null ? null : f.Stats?.GetValueOrDefault(r.From), now);
                switch (verdict.Decision)
                {
                    case RolloutVerdict.Kind.Fail:
                        return (state with { Rollout = null }, verdict.Why, null, $"rollout stopped: {verdict.Why}");
                    case RolloutVerdict.Kind.Wait:
                        return (state, RollingOutMessage(ctx, r, verdict.Why), verdict.Until, null);
                    default:
                        var next = r.Step + 1 < settings.Steps.Count ? settings.Steps[r.Step + 1] : 100;
                        r = r with { Step = r.Step + 1, Weight = Math.Max(next, r.Weight), Since = now };
                        state = state with { Rollout = r };
                        break;
                }
            }
            else if (now >= r.Since + settings.Interval)
            {
                r = r with { Done = true };
                state = state with { Rollout = r };
            }
        }
        if (r.Done) return (state, "", null, null);
        if (r.Paused) return (state, RollingOutMessage(ctx, r, "paused by an operator"), null, null);
        var due = r.Since + settings.Interval;
        return (state, RollingOutMessage(ctx, r, r.Weight < 100 ? $"next step at {Stamp(due)}" : $"version {r.From}'s app is removed at {Stamp(due)}"), due, null);
    }

    private static string RollingOutMessage(Context ctx, RolloutState r, string next) =>
        $"at {GatewayLayout.Percent(r.Weight)} on {ctx.Cluster.Name}" + (r.From is { } from && r.Weight < 100 ? $" (version {from} takes the rest)" : "") + $"; {next}";

    /// <summary>Retrying cannot help (a required example is missing): dead-lettered at once, the last good version serves.</summary>
    private static (JsonObject?, AttemptDecision) Permanent(Context ctx, ModelOutcome m, string name, ModelFacts f, AttemptState state, string why, string failureClass)
    {
        var letter = new DeadLetterDecision(ctx.NewId(), failureClass, why, state.Attempts, state.FirstFailure ?? ctx.Now, ctx.Now);
        var (app, served, rollback, dead) = Fallback(ctx, name, f, state with
        {
            DeadLetter = letter.Id, RetryAt = null, FirstFailure = state.FirstFailure ?? ctx.Now, LastFailure = ctx.Now, Error = why,
        });
        return (app, new AttemptDecision(m.RegisteredModel, m.Version!, name, AttemptPhase.DeadLettered,
            $"dead-lettered (mlray dlq replay once the cause is fixed): {why}", dead, true, letter, FollowUp(ctx, dead, rollback, null), served) { Served = rollback });
    }

    /// <summary>
    /// The model's last good version as the app to serve instead of a failed one (none if it never ran here), how Ray
    /// shows it now, and the state naming it as the version served.
    /// </summary>
    private static (JsonObject? App, string? Version, AppResult? Judged, AttemptState State) Fallback(Context ctx, string name, ModelFacts f, AttemptState state)
    {
        var kept = state.ServedVersion == f.LastGood?.Version ? state : state with { ServedVersion = f.LastGood?.Version };
        if (f.LastGood is not { } good) return (null, null, null, kept);
        return (good.App, good.Version, Convergence.Judge((string)good.App["name"]!, good.App, ctx.Current), kept);
    }

    /// <summary>
    /// When to look again: at <paramref name="due"/> (a retry), and sooner while the served version's app is not terminal
    /// — every PUT is followed until Ray ran or failed what it changed (sooner after the rollback, less often later).
    /// </summary>
    private static DateTimeOffset? FollowUp(Context ctx, AttemptState state, AppResult? served, DateTimeOffset? due)
    {
        if (served is not { Outcome: AppOutcome.Pending }) return due;
        var check = ctx.Now + CheckDelay(ctx.Now - (state.LastFailure ?? ctx.Now));
        return due is { } d && d < check ? d : check;
    }

    /// <summary>The attempt tag must stay within MLflow's 5,000-character tag values.</summary>
    private const int MaxErrorLength = 2000;

    private static string WaitingMessage(AttemptState s, RetrySettings retry) =>
        $"attempt {s.Attempts} of {retry.Attempts} failed; next attempt at {Stamp(s.RetryAt!.Value)}" + (s.Error is { } e ? $": {e}" : "");

    private static string DeadLetteredMessage(AttemptState s, RetrySettings retry) =>
        $"failed {s.Attempts} of {retry.Attempts} attempts; dead-lettered (mlray dlq replay once the cause is fixed)" + (s.Error is { } e ? $": {e}" : "");

    /// <summary>The app as attempt <paramref name="attempt"/> sends it: from the second attempt on, a new <c>runtime_env</c> for Ray.</summary>
    public static JsonObject WithAttempt(JsonObject app, int attempt)
    {
        var copy = (JsonObject)app.DeepClone();
        if (attempt <= 1) return copy;
        var runtimeEnv = copy["runtime_env"] as JsonObject ?? new JsonObject();
        copy["runtime_env"] = runtimeEnv;
        var envVars = runtimeEnv["env_vars"] as JsonObject ?? new JsonObject();
        runtimeEnv["env_vars"] = envVars;
        envVars[AttemptEnvVar] = attempt.ToString(CultureInfo.InvariantCulture);
        return copy;
    }

    /// <summary>Follow-up checks: soon after a PUT, less often the longer an install takes.</summary>
    public static TimeSpan CheckDelay(TimeSpan sinceApplied) =>
        sinceApplied < TimeSpan.FromSeconds(30) ? TimeSpan.FromSeconds(1)
        : sinceApplied < TimeSpan.FromMinutes(5) ? TimeSpan.FromSeconds(5)
        : TimeSpan.FromSeconds(30);

    public static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
