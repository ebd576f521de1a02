using MassTransit;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Failures;

/// <summary>Puts a dead letter in its cluster's dead-letter queue (published with a broker confirm).</summary>
public interface IDeadLetters
{
    Task PublishAsync(ModelDeadLettered letter, CancellationToken ct);
}

/// <summary>RabbitMQ: the direct exchange <c>mlray.dead-letters</c>, routing key = cluster.</summary>
public sealed class BrokerDeadLetters(IPublishEndpoint publish) : IDeadLetters
{
    public Task PublishAsync(ModelDeadLettered letter, CancellationToken ct) => publish.Publish(letter, ct);
}

/// <summary>In-memory transport: the cluster's dead-letter queue by name (nothing consumes it).</summary>
public sealed class InProcessDeadLetters(ISendEndpointProvider send) : IDeadLetters
{
    public async Task PublishAsync(ModelDeadLettered letter, CancellationToken ct)
    {
        var endpoint = await send.GetSendEndpoint(new Uri($"queue:{PipelineTopology.DeadLetterQueue(letter.Cluster)}"));
        await endpoint.Send(letter, ct);
    }
}
