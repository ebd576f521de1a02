using System.Globalization;
using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>
/// Where a version's rollout through the gateway stands, kept in its attempt state (and mirrored in the
/// <c>mlray.&lt;cluster&gt;.rollout</c> tag), so a restarted worker or a standby carries on from the same step.
/// </summary>
public sealed record RolloutState
{
    /// <summary>Index of the step in force (into the rollout's steps).</summary>
    public int Step { get; init; }
    /// <summary>Percent of the route's unpinned traffic the version takes now.</summary>
    public int Weight { get; init; }
    /// <summary>When the current step began.</summary>
    public DateTimeOffset Since { get; init; }
    /// <summary>The version traffic moves away from (it takes the rest, and serves alone again on a failure).</summary>
    public string? From { get; init; }
    /// <summary>Held by an operator: the weights stay until resumed, promoted or aborted.</summary>
    public bool Paused { get; init; }
    /// <summary>Finished: the version takes all traffic and the previous version's app is gone.</summary>
    public bool Done { get; init; }

    public string ToJson() => TagJson.Write(this);

    public static RolloutState? Parse(string? json) => TagJson.Read<RolloutState>(json);
}

/// <summary>The JSON of MLRay's state tags (<c>mlray.&lt;cluster&gt;.attempt</c>, <c>.rollout</c>): snake_case, nulls left out.</summary>
internal static class TagJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Write<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>The value in a tag, or null when absent or unreadable (someone edited it: start afresh).</summary>
    public static T? Read<T>(string? json) where T : class
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try { return JsonSerializer.Deserialize<T>(json, Options); }
        catch (JsonException) { return null; }
    }
}

/// <summary>What an operator asks of a model's rollout (<c>mlray rollout …</c>, <c>/ops/rollouts/…</c>).</summary>
public enum RolloutCommand
{
    /// <summary>Hold the weights where they are.</summary>
    Pause,
    /// <summary>Go on from the current step (its interval starts again).</summary>
    Resume,
    /// <summary>Jump to 100 % (the previous version's app goes one interval later).</summary>
    Promote,
    /// <summary>Roll back to the previous version and dead-letter the candidate, reason "aborted by operator".</summary>
    Abort,
}

public static class RolloutCommands
{
    public const string AbortReason = "aborted by operator";

    public static RolloutCommand Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "pause" => RolloutCommand.Pause,
        "resume" => RolloutCommand.Resume,
        "promote" => RolloutCommand.Promote,
        "abort" => RolloutCommand.Abort,
        _ => throw new ArgumentException($"'{text}' is not a rollout command (pause, resume, promote, abort)"),
    };

    public static string Name(this RolloutCommand command) => command.ToString().ToLowerInvariant();
}

/// <summary>What the gateway's stats say about a step: go on, wait (until when, and why), or roll back (why).</summary>
public sealed record RolloutVerdict(RolloutVerdict.Kind Decision, string Why, DateTimeOffset? Until = null)
{
    public enum Kind { Advance, Wait, Fail }
}

/// <summary>
/// Pure: the analysis before each rollout step. The candidate must have served <c>min_requests</c> in the step with an
/// error rate at most <c>max_error_rate</c> and not worse than the current version's by more than a point; too little
/// traffic waits up to <c>max_wait</c>, then <c>on_no_traffic</c> decides.
/// </summary>
public static class RolloutAnalysis
{
    public static RolloutVerdict Judge(RolloutSettings settings, RolloutState state, VersionStats? candidate, VersionStats? current, DateTimeOffset now)
    {
        var due = state.Since + settings.Interval;
        if (now < due) return new RolloutVerdict(RolloutVerdict.Kind.Wait, $"at {GatewayLayout.Percent(state.Weight)} until {AttemptPolicy.Stamp(due)}", due);
        var requests = candidate?.Requests ?? 0;
        if (requests < settings.MinRequests)
        {
            var giveUp = state.Since + settings.MaxWait;
            var counted = $"{requests} request(s) at {GatewayLayout.Percent(state.Weight)}, {settings.MinRequests} needed";
            if (now < giveUp)
                return new RolloutVerdict(RolloutVerdict.Kind.Wait, $"{counted}; waiting up to {AttemptPolicy.Stamp(giveUp)}",
                    Min(now + settings.Interval, giveUp));
            return settings.OnNoTraffic == NoTrafficAction.Promote
                ? new RolloutVerdict(RolloutVerdict.Kind.Advance, $"{counted} within max_wait; promoted (on_no_traffic: promote)")
                : new RolloutVerdict(RolloutVerdict.Kind.Fail, $"{counted} within max_wait (on_no_traffic: fail)");
        }
        var rate = candidate!.ErrorRate;
        var seen = $"error rate {Pct(rate)} over {requests} requests at {GatewayLayout.Percent(state.Weight)}";
        if (rate > settings.MaxErrorRate)
            return new RolloutVerdict(RolloutVerdict.Kind.Fail, $"{seen}; max_error_rate is {Pct(settings.MaxErrorRate)}");
        if (current is { Requests: > 0 } c && rate > c.ErrorRate + settings.MaxErrorRateIncrease)
            return new RolloutVerdict(RolloutVerdict.Kind.Fail, $"{seen}; version {state.From} shows {Pct(c.ErrorRate)} (at most {Pct(settings.MaxErrorRateIncrease)} more allowed)");
        return new RolloutVerdict(RolloutVerdict.Kind.Advance, seen);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static string Pct(double fraction) => (fraction * 100).ToString("0.##", CultureInfo.InvariantCulture) + " %";
}
