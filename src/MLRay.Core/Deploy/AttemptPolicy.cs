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

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The state in a tag, or null when absent or unreadable (someone edited it: start afresh).</summary>
    public static AttemptState? Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try { return JsonSerializer.Deserialize<AttemptState>(json, Json); }
        catch (JsonException) { return null; }
    }

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
}

/// <summary>The desired apps after failure handling, with a decision per model version it concerns.</summary>
public sealed record AttemptPlan(IReadOnlyList<JsonObject> Applications, IReadOnlyList<AttemptDecision> Decisions, IReadOnlySet<string> KeepAsIs);

/// <summary>
/// Pure: turns the desired state (what the registry selects) into what to PUT when installs fail. Each selected version
/// is attempted up to <c>retry.attempts</c> times, each attempt visible to Ray as a new <c>runtime_env</c>
/// (<see cref="AttemptEnvVar"/>, from the second attempt on) so neither the bad-env cache nor an unchanged deployment
/// answers it; between attempts and after the last one, the model's last good version serves (or, if it never ran,
/// its app is removed). Invalid models are dead-lettered at once and keep what they run. Dead-lettered versions are
/// never attempted again until replayed or the model changes.
/// </summary>
public static class AttemptPolicy
{
    public const string AttemptEnvVar = "MLRAY_ATTEMPT";
    public const string StatusField = "status";
    public const string AttemptField = "attempt";

    /// <summary>What the policy needs to know about one selected or invalid model, beyond the desired state.</summary>
    public sealed record ModelFacts(
        string RegisteredModel,
        string Version,
        string Spec,
        AttemptState? State,
        /// <summary>The app of the model's last version that ran on this cluster (not this one), rebuilt from the registry.</summary>
        (string Version, JsonObject App)? LastGood);

    public static AttemptPlan Plan(DesiredState desired, IReadOnlyList<ModelFacts> facts, ServeInstance current,
        DateTimeOffset now, IReadOnlySet<string> replays, Func<string> newId)
    {
        var cluster = desired.Cluster;
        var retry = cluster.Retry;
        var byModel = facts.ToDictionary(f => f.RegisteredModel, StringComparer.Ordinal);
        var appsByModel = desired.Applications.ToDictionary(a => (string)a["args"]![ServeApp.ManagedModelArg]!, StringComparer.Ordinal);
        var apps = new List<JsonObject>();
        var decisions = new List<AttemptDecision>();
        var keep = new HashSet<string>(desired.KeepAsIs, StringComparer.Ordinal);

        foreach (var m in desired.Models)
        {
            if (m is { Kind: ModelOutcomeKind.Pending, Version: { } pendingVersion })
            {
                var known = byModel.GetValueOrDefault(m.RegisteredModel)?.State ?? new AttemptState();
                decisions.Add(new AttemptDecision(m.RegisteredModel, pendingVersion, null, AttemptPhase.Pending, DesiredState.PendingMessage,
                    known, false, null, null, null));
                continue;
            }
            if (!byModel.TryGetValue(m.RegisteredModel, out var f) || m.Version is null)
            {
                if (appsByModel.TryGetValue(m.RegisteredModel, out var untouched)) apps.Add(untouched);
                continue;
            }
            var state = f.State is { } s && s.Spec == f.Spec && !(s.DeadLetter is { } id && replays.Contains(id)) ? s
                // A replay removes its own letter; a changed spec leaves the old one listed until the version runs.
                : new AttemptState { Spec = f.Spec, StaleDeadLetter = f.State is { } old && old.Spec != f.Spec ? old.DeadLetter ?? old.StaleDeadLetter : null };
            var changed = !ReferenceEquals(state, f.State);

            if (m.Kind == ModelOutcomeKind.Invalid)
            {
                if (state.DeadLetter is not null)
                    continue; // already given up on, and nothing about it changed
                var message = string.Join("\n", m.Problems);
                var letter = new DeadLetterDecision(newId(), "permanent", message, 0, now, now);
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, m.AppName, AttemptPhase.DeadLettered, message,
                    state with { DeadLetter = letter.Id, FirstFailure = now, LastFailure = now, RetryAt = null }, true, letter, null, null));
                continue;
            }
            if (m.Kind != ModelOutcomeKind.Selected || !appsByModel.TryGetValue(m.RegisteredModel, out var wanted))
                continue;

            var name = (string)wanted["name"]!;
            JsonObject? Fallback(out string? served)
            {
                served = f.LastGood?.Version;
                return f.LastGood?.App;
            }

            if (state.DeadLetter is not null)
            {
                if (Fallback(out var served) is { } good) apps.Add(good);
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, name, AttemptPhase.DeadLettered,
                    DeadLetteredMessage(state, retry), state, changed, null, null, served));
                continue;
            }
            if (state.RetryAt is { } due && due > now)
            {
                if (Fallback(out var served) is { } good) apps.Add(good);
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, name, AttemptPhase.WaitingToRetry,
                    WaitingMessage(state, retry), state, changed, null, due, served));
                continue;
            }
            if (state.Attempts == 0 || state.RetryAt is not null)
            {
                var attempt = state.Attempts + 1;
                apps.Add(WithAttempt(wanted, attempt));
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, name, AttemptPhase.Deploying,
                    attempt == 1 ? $"applied to {cluster.Name}; waiting for Ray" : $"attempt {attempt} of {retry.Attempts} applied to {cluster.Name}; waiting for Ray",
                    state with { Attempts = attempt, StartedAt = now, RetryAt = null }, true, null, now + CheckDelay(TimeSpan.Zero), null));
                continue;
            }

            // An attempt is in flight: judge what Ray shows of exactly this attempt's config.
            var inFlight = WithAttempt(wanted, state.Attempts);
            var judged = ClusterDeployer.Judge(name, inFlight, current);
            var started = state.StartedAt ?? now;
            var failure = judged.Outcome == AppOutcome.Failed ? judged.Message
                : judged.Outcome == AppOutcome.Pending && now - started >= cluster.DeployTimeout
                    ? RayClusterConfig.StillPendingAfter(cluster.DeployTimeout, judged.RayStatus, judged.Message)
                    : null;
            if (failure is null)
            {
                apps.Add(inFlight);
                var running = judged.Outcome == AppOutcome.Running;
                var stale = running ? state.StaleDeadLetter : null;
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, name, running ? AttemptPhase.Running : AttemptPhase.Deploying,
                    running ? "" : judged.Message, stale is null ? state : state with { StaleDeadLetter = null }, changed || stale is not null,
                    null, running ? null : now + CheckDelay(now - started), null) { RemoveLetter = stale });
                continue;
            }

            var failed = state with { FirstFailure = state.FirstFailure ?? now, LastFailure = now, Error = RayMessage.Summarize(failure, MaxErrorLength) };
            if (Fallback(out var instead) is { } previous) apps.Add(previous);
            if (state.Attempts >= retry.Attempts)
            {
                var letter = new DeadLetterDecision(newId(), "install", failure, state.Attempts, failed.FirstFailure!.Value, now);
                var dead = failed with { DeadLetter = letter.Id, RetryAt = null };
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, name, AttemptPhase.DeadLettered,
                    DeadLetteredMessage(dead, retry), dead, true, letter, null, instead));
            }
            else
            {
                var waiting = failed with { RetryAt = now + retry.DelayAfter(state.Attempts) };
                decisions.Add(new AttemptDecision(m.RegisteredModel, m.Version, name, AttemptPhase.WaitingToRetry,
                    WaitingMessage(waiting, retry), waiting, true, null, waiting.RetryAt, instead));
            }
        }
        return new AttemptPlan(apps, decisions, keep);
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
