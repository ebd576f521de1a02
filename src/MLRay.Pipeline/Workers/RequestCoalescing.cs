using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Workers;

/// <summary>
/// Pure: which of a batch's requests a reconcile still has to answer. A request says "look at the registry as it is
/// from <see cref="ClusterDeployRequested.QueuedAt"/> on"; a reconcile whose registry read began after that has looked, so
/// the request is acked without another reconcile. That is what finishes a burst: 200 webhooks forwarded by the router
/// over a few seconds are answered by the one or two reconciles that began reading after they arrived.
/// </summary>
public static class RequestCoalescing
{
    /// <summary>
    /// How far the receiver's clock (which stamps a webhook's arrival) may run behind the worker's (which stamps a read's
    /// start) without a request being taken as answered too early. NTP keeps hosts within milliseconds of each other.
    /// </summary>
    public static readonly TimeSpan ClockSkewAllowance = TimeSpan.FromMilliseconds(500);

    /// <param name="cluster">The worker's cluster: a sweep asking it for the census needs a reconcile of its own.</param>
    /// <param name="readBegan">When the registry read of this worker's last successful reconcile began (null: none yet).</param>
    public static IReadOnlyList<ClusterDeployRequested> Unanswered(string cluster, IReadOnlyList<ClusterDeployRequested> requests, DateTimeOffset? readBegan) =>
        readBegan is not { } read
            ? requests
            : [.. requests.Where(r => r.ReplayOf is not null || r.RolloutCommand is not null   // an operator's action, not only a look
                                       || r.CensusCluster == cluster
                                       || r.QueuedAt is not { } queued || queued > read - ClockSkewAllowance)];
}
