using MassTransit;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Routing;

/// <summary>Gets a deploy request to the right cluster queues, or parks a model no cluster can serve.</summary>
public interface IClusterDispatcher
{
    Task DispatchAsync(ClusterDeployRequested request, CancellationToken ct);
    Task ParkAsync(ModelUnroutable model, CancellationToken ct);
}

/// <summary>
/// RabbitMQ: publish to the topic exchange with the Python version as routing key; the broker's bindings
/// (one per cluster queue) decide. Parked models go to the <c>mlray.unroutable</c> exchange with the reason header.
/// </summary>
public sealed class TopicClusterDispatcher(IPublishEndpoint publish) : IClusterDispatcher
{
    public Task DispatchAsync(ClusterDeployRequested request, CancellationToken ct) =>
        publish.Publish(request, ctx => CopyDeliveryId(ctx, request.DeliveryId), ct);

    public Task ParkAsync(ModelUnroutable model, CancellationToken ct) =>
        publish.Publish(model, ctx =>
        {
            ctx.Headers.Set(PipelineTopology.ReasonHeader, model.Reason);
            CopyDeliveryId(ctx, model.DeliveryId);
        }, ct);

    internal static void CopyDeliveryId(SendContext ctx, string? deliveryId)
    {
        if (deliveryId is not null) ctx.Headers.Set(PipelineTopology.DeliveryIdHeader, deliveryId);
    }
}

/// <summary>
/// MassTransit's in-memory transport has no topic exchanges: send to each matching cluster's queue by name,
/// using the same matching rule the RabbitMQ bindings express.
/// </summary>
public sealed class DirectClusterDispatcher(ISendEndpointProvider send, MLRayConfig config) : IClusterDispatcher
{
    public async Task DispatchAsync(ClusterDeployRequested request, CancellationToken ct)
    {
        foreach (var cluster in config.Clusters.Where(c => Matches(c, request.RoutingKey)))
        {
            var endpoint = await send.GetSendEndpoint(new Uri($"queue:{PipelineTopology.ClusterQueue(cluster.Name)}"));
            await endpoint.Send(request, ctx => TopicClusterDispatcher.CopyDeliveryId(ctx, request.DeliveryId), ct);
        }
    }

    public async Task ParkAsync(ModelUnroutable model, CancellationToken ct)
    {
        var endpoint = await send.GetSendEndpoint(new Uri($"queue:{PipelineTopology.UnroutableQueue}"));
        await endpoint.Send(model, ctx => ctx.Headers.Set(PipelineTopology.ReasonHeader, model.Reason), ct);
    }

    internal static bool Matches(RayClusterConfig cluster, string routingKey) =>
        routingKey == PipelineTopology.BroadcastKey
        || (PythonVersionSpec.TryParse(routingKey, out var python) && cluster.PythonVersion.Accepts(python));
}
