using MassTransit;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Failures;

/// <summary>Puts a dead letter in its cluster's dead-letter queue (published with a broker confirm).</summary>
public interface IDeadLetters
{
    Task PublishAsync(ModelDeadLettered letter, CancellationToken ct);

    /// <summary>Takes letter <paramref name="id"/> out of <paramref name="cluster"/>'s queue, if it is still there; whether it was.</summary>
    Task<bool> RemoveAsync(string cluster, string id, CancellationToken ct);
}

/// <summary>RabbitMQ: the direct exchange <c>mlray.dead-letters</c>, routing key = cluster.</summary>
public sealed class BrokerDeadLetters(IPublishEndpoint publish, DeadLetterStore store) : IDeadLetters
{
    public Task PublishAsync(ModelDeadLettered letter, CancellationToken ct) => publish.Publish(letter, ct);

    public async Task<bool> RemoveAsync(string cluster, string id, CancellationToken ct) =>
        (await store.PurgeAsync(cluster, new LetterSelection { Ids = [id] }, ct)).Removed.Count > 0;
}

/// <summary>In-memory transport: the cluster's dead-letter queue by name (nothing consumes it).</summary>
public sealed class InProcessDeadLetters(ISendEndpointProvider send) : IDeadLetters
{
    public async Task PublishAsync(ModelDeadLettered letter, CancellationToken ct)
    {
        var endpoint = await send.GetSendEndpoint(new Uri($"queue:{PipelineTopology.DeadLetterQueue(letter.Cluster)}"));
        await endpoint.Send(letter, ct);
    }

    /// <summary>An in-memory queue cannot be browsed: its letters live only as long as the process (the demo's fallback).</summary>
    public Task<bool> RemoveAsync(string cluster, string id, CancellationToken ct) => Task.FromResult(false);
}
