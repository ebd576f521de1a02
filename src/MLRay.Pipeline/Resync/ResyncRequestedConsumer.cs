using MassTransit;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Routing;

namespace MLRay.Pipeline.Resync;

/// <summary>
/// The resync, run by the active router (<c>mlray.resync</c> has a single active consumer): one sweep request to every
/// cluster — each worker's reconcile reads the whole registry in a few paged searches — with the first cluster's worker
/// also taking the routing census (<see cref="RegistryCensus"/>). O(clusters) messages and no MLflow request here.
/// </summary>
public sealed class ResyncRequestedConsumer(ResyncClock clock, IClusterDispatcher dispatcher, MLRayConfig config, TimeProvider time,
    ILogger<ResyncRequestedConsumer> log) : IConsumer<ResyncRequested>
{
    public const string Reason = "resync";

    public async Task Consume(ConsumeContext<ResyncRequested> context)
    {
        var request = context.Message;
        var at = time.GetUtcNow();
        if (!clock.TryBegin(request.Now, at, config.Pipeline.ResyncInterval, out var last))
        {
            log.LogDebug("Resync asked by {Requester} skipped: one began at {Last:O}, within the interval", request.Requester, last);
            return;
        }
        await dispatcher.DispatchAsync(new ClusterDeployRequested
        {
            RoutingKey = PipelineTopology.BroadcastKey, Reason = Reason, QueuedAt = at, CensusCluster = config.Clusters[0].Name,
        }, context.CancellationToken);
        log.LogInformation("Resync asked by {Requester}: swept {Count} cluster(s), census by {Census}", request.Requester, config.Clusters.Count, config.Clusters[0].Name);
    }
}

/// <summary>When this router last began a resync (<see cref="ResyncGate"/> decides on the next).</summary>
public sealed class ResyncClock
{
    private readonly Lock _lock = new();
    private DateTimeOffset? _lastBegan;

    /// <summary>Resyncs this router began, and requests it skipped (one ran within the interval).</summary>
    public (int Began, int Skipped) Counts { get { lock (_lock) return (_began, _skipped); } }
    private int _began, _skipped;

    public bool TryBegin(bool now, DateTimeOffset at, TimeSpan interval, out DateTimeOffset? last)
    {
        lock (_lock)
        {
            last = _lastBegan;
            if (!ResyncGate.Runs(now, at, _lastBegan, interval))
            {
                _skipped++;
                return false;
            }
            _lastBegan = at;
            _began++;
            return true;
        }
    }
}

public sealed class ResyncRequestedConsumerDefinition : ConsumerDefinition<ResyncRequestedConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<ResyncRequestedConsumer> consumer,
        IRegistrationContext context) =>
        endpoint.UseMessageRetry(r => r.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)));
}
