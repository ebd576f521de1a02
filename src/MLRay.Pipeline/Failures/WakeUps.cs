using MassTransit;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Failures;

/// <summary>Why a worker asked to be woken up (the <c>Reason</c> of the wake-up's message).</summary>
public static class WakeUpReason
{
    /// <summary>Follow an install's convergence.</summary>
    public const string Check = "check";
    /// <summary>A failed install's next attempt is due.</summary>
    public const string Retry = "retry";
    /// <summary>Try a reconcile again after a transient error.</summary>
    public const string Transient = "transient retry";
}

/// <summary>
/// Asks a cluster's worker to look again later — a follow-up check of an install, a retry that is due, or another
/// try after a transient error — through the broker, so whichever worker instance is active then does it.
/// </summary>
public interface IWakeUps
{
    Task ScheduleAsync(string cluster, TimeSpan delay, ClusterDeployRequested message, CancellationToken ct);
}

/// <summary>
/// RabbitMQ: the message waits in <c>mlray.cluster.&lt;name&gt;.wait.&lt;level&gt;</c> until its per-message TTL expires, then
/// the broker dead-letters it onto the cluster queue. Durable, so a wait survives the death of every worker; plugin-free.
/// </summary>
public sealed class BrokerWakeUps(ISendEndpointProvider send, MLRayConfig config) : IWakeUps
{
    public async Task ScheduleAsync(string cluster, TimeSpan delay, ClusterDeployRequested message, CancellationToken ct)
    {
        var level = WaitLevels.For(config.GetCluster(cluster)).LastOrDefault(l => l <= delay, WaitLevels.Shortest);
        var endpoint = await send.GetSendEndpoint(new Uri($"exchange:{PipelineTopology.WaitQueue(cluster, level)}"));
        var ttl = delay < WaitLevels.Shortest ? WaitLevels.Shortest : delay;
        await endpoint.Send(WaitLevels.DueAt(message, ttl), ctx => ctx.TimeToLive = ttl, ct);
    }
}

/// <summary>In-memory transport (the demo without a broker): a timer, then a send to the cluster queue. Not restart-proof.</summary>
public sealed class InProcessWakeUps(ISendEndpointProvider send) : IWakeUps
{
    public Task ScheduleAsync(string cluster, TimeSpan delay, ClusterDeployRequested message, CancellationToken ct)
    {
        _ = Task.Run(async () =>
        {
            var wait = delay < WaitLevels.Shortest ? WaitLevels.Shortest : delay;
            var due = WaitLevels.DueAt(message, wait);
            await Task.Delay(wait);
            var endpoint = await send.GetSendEndpoint(new Uri($"queue:{PipelineTopology.ClusterQueue(cluster)}"));
            await endpoint.Send(due);
        }, CancellationToken.None);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The wait queues a cluster has: a fixed ladder for checks and transient errors, plus every configured retry delay.
/// A wake-up goes to the longest level not beyond its delay; the message's own TTL is the exact delay. Waking early is
/// harmless: the worker is level-triggered and asks again for what is still to wait.
/// </summary>
public static class WaitLevels
{
    public static readonly TimeSpan Shortest = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan[] Ladder = [.. new[] { 1, 2, 5, 10, 30, 60 }.Select(s => TimeSpan.FromSeconds(s))];

    public static IReadOnlyList<TimeSpan> For(RayClusterConfig cluster) =>
        Ladder.Concat(cluster.Retry.Delays).Select(d => TimeSpan.FromSeconds(Math.Max(1, Math.Floor(d.TotalSeconds)))).Distinct().Order().ToList();

    /// <summary>
    /// A wake-up is queued on its cluster's queue when its wait ends: only a reconcile that reads the registry after that
    /// answers it (one that read earlier scheduled its own follow-up if it needed one).
    /// </summary>
    public static ClusterDeployRequested DueAt(ClusterDeployRequested message, TimeSpan wait) => message with { QueuedAt = DateTimeOffset.UtcNow + wait };

    /// <summary>After <paramref name="failures"/> transient failures in a row: 1 s, 2 s, 5 s, 10 s, then 30 s, with ±10 % jitter.</summary>
    public static TimeSpan TransientBackoff(int failures)
    {
        var steps = new[] { 1, 2, 5, 10, 30 };
        var seconds = steps[Math.Clamp(failures - 1, 0, steps.Length - 1)];
        return TimeSpan.FromSeconds(seconds * (0.9 + Random.Shared.NextDouble() * 0.2));
    }
}
