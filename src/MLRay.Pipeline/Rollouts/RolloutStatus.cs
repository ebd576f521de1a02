using MLRay.Deploy;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Pipeline.Rollouts;

/// <summary>One version of a model on one cluster, as MLRay's tags on it describe it, and its share of the route's traffic.</summary>
public sealed record RolloutVersion(string Version, string Status, string? SmokeTest, string? Message)
{
    /// <summary>Percent of the route's unpinned traffic it takes now.</summary>
    public int Weight { get; init; }
    /// <summary>Its rollout through the gateway, when it has one.</summary>
    public RolloutState? Rollout { get; init; }
    /// <summary>What the gateway counted for it on the model's route (null: stats not read, or it got no request in the window).</summary>
    public VersionStats? Stats { get; init; }

    /// <summary>Taking traffic step by step: its status says so, or its rollout is not done.</summary>
    public bool InProgress => Status == DeployStatus.RollingOut || Rollout is { Done: false };
}

/// <summary>The gateway's stats for a model's route: the route and window read, or why they could not be read.</summary>
public sealed record RolloutStats(string? Route, double? WindowSeconds, string? Problem);

/// <summary>
/// Pure: where one model stands on one cluster — each version whose <c>mlray.&lt;cluster&gt;.status</c> is RUNNING,
/// ROLLING_OUT, DEPLOYING or FAILED (newest first), its weight, smoke test and message, the rollout in progress if any, and
/// (gateway clusters) the gateway's stats. Read from the tags the cluster's worker writes, never from the worker itself:
/// the one answer of <c>mlray rollout status</c> and <c>GET /ops/rollouts/{cluster}/{model}</c>.
/// </summary>
public sealed record RolloutStatus(RayClusterConfig Cluster, string RegisteredModel, IReadOnlyList<RolloutVersion> Versions)
{
    private static readonly HashSet<string> Shown = [DeployStatus.Running, DeployStatus.RollingOut, DeployStatus.Deploying, DeployStatus.Failed];

    /// <summary>The newest version whose rollout is in progress, if any.</summary>
    public RolloutVersion? InProgress => Versions.FirstOrDefault(v => v.InProgress);

    /// <summary>Null on a <c>traffic: direct</c> cluster (there is no gateway to ask).</summary>
    public RolloutStats? Stats { get; init; }

    /// <summary>
    /// The versions' weights: the candidate of a rollout in progress takes its rollout's weight and the version it moves away
    /// from the rest; without a rollout in progress, a RUNNING version takes all of it. Every other version takes none.
    /// </summary>
    public static RolloutStatus From(RayClusterConfig cluster, string registeredModel, IEnumerable<ModelVersion> versions)
    {
        var shown = versions
            .Select(v => (Version: v, Tags: v.TagMap, Status: v.TagMap.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Status))))
            .Where(v => v.Status is not null && Shown.Contains(v.Status))
            .OrderByDescending(v => v.Version.Number)
            .Select(v => new RolloutVersion(v.Version.Version, v.Status!, v.Tags.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.SmokeTest)),
                NullIfEmpty(v.Tags.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Message))))
            {
                Rollout = RolloutOf(cluster.Name, v.Tags, v.Status!),
            })
            .ToList();
        var active = shown.FirstOrDefault(v => v.InProgress);
        int WeightOf(RolloutVersion v) =>
            ReferenceEquals(v, active) ? active.Rollout?.Weight ?? 0
            : active?.Rollout is { From: { } from } r ? (v.Version == from ? 100 - r.Weight : 0)
            : v.Status == DeployStatus.Running ? 100 : 0;
        return new RolloutStatus(cluster, registeredModel, [.. shown.Select(v => v with { Weight = WeightOf(v) })]);
    }

    /// <summary>Each version's figures from the gateway's stats for <paramref name="route"/> (as clients send it).</summary>
    public RolloutStatus WithStats(string route, GatewayStats stats)
    {
        var byVersion = stats.For(route);
        return this with
        {
            Versions = [.. Versions.Select(v => v with { Stats = byVersion.GetValueOrDefault(v.Version) })],
            Stats = new RolloutStats(route, stats.WindowSeconds, null),
        };
    }

    /// <summary>
    /// The attempt tag holds the worker's state; the <c>rollout</c> tag mirrors it but is not rewritten when a rollout stops
    /// (failed or aborted: the state drops it), so the mirror speaks only when there is no state to ask.
    /// </summary>
    private static RolloutState? RolloutOf(string cluster, IReadOnlyDictionary<string, string> tags, string status)
    {
        var attempt = AttemptState.Parse(tags.GetValueOrDefault(MLRayTags.Key(cluster, MLRayTags.Attempt)));
        return attempt is not null && (attempt.Rollout is not null || status != DeployStatus.RollingOut)
            ? attempt.Rollout
            : RolloutState.Parse(tags.GetValueOrDefault(MLRayTags.Key(cluster, MLRayTags.Rollout)));
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
