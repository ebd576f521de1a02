using MassTransit;

namespace MLRay.Pipeline.Workers;

/// <summary>
/// Consumes a cluster's queue in batches: every request pending when the worker is free is coalesced into one
/// reconcile of the whole cluster (level-triggered: the requests only say "look").
/// </summary>
public sealed class ClusterDeployRequestedConsumer(ClusterWorkers workers) : IConsumer<Batch<Messages.ClusterDeployRequested>>
{
    public async Task Consume(ConsumeContext<Batch<Messages.ClusterDeployRequested>> context)
    {
        var queue = context.ReceiveContext.InputAddress.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).Last();
        var requests = context.Message.Select(m => m.Message).ToList();
        await workers.ForQueue(queue).ReconcileAsync(requests, context.CancellationToken);
    }
}
