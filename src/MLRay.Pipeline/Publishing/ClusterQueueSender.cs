using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Topology;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MLRay.Pipeline.Publishing;

/// <summary>
/// Puts a <see cref="ClusterDeployRequested"/> in one cluster's queue and no other — through the default exchange with the
/// queue as routing key, <c>mandatory</c>, awaited until the broker confirms — so that cluster's one writer (its queue's
/// single active consumer) acts on it: <c>mlray dlq replay</c>, <c>mlray rollout pause|resume|promote|abort</c>, a worker's
/// handover. The topic exchange would reach every cluster of the model's Python instead.
/// </summary>
public sealed class ClusterQueueSender(RabbitMqEndpoint broker)
{
    /// <summary>Sends <paramref name="request"/> on a connection of its own (one short operation; the broker's failures as a <see cref="BrokerException"/>).</summary>
    public Task SendAsync(string cluster, ClusterDeployRequested request, CancellationToken ct) =>
        BrokerException.GuardAsync(broker, $"send the {request.Reason} to {PipelineTopology.ClusterQueue(cluster)}", async () =>
        {
            await using var connection = await broker.ConnectAsync("mlray-cluster-request", TimeSpan.FromSeconds(5), ct);
            await using var channel = await connection.CreateChannelAsync(RabbitMqEndpoint.ConfirmedPublishes, ct);
            await PublishAsync(channel, broker, cluster, request, ct);
            return true;
        });

    /// <summary>
    /// Sends on <paramref name="channel"/> (which must track confirmations). A request no queue took — the cluster's queue
    /// does not exist — is a <see cref="BrokerException"/> saying so, followed by <paramref name="consequence"/>.
    /// </summary>
    public static async Task PublishAsync(IChannel channel, RabbitMqEndpoint broker, string cluster, ClusterDeployRequested request, CancellationToken ct,
        string consequence = "")
    {
        var queue = PipelineTopology.ClusterQueue(cluster);
        try
        {
            await MassTransitEnvelope.PublishAsync(channel, broker, "", queue, request, null, ct);
        }
        catch (PublishException e) when (e.IsReturn)
        {
            throw new BrokerException($"no queue {queue} took the {request.Reason} (the broker returned it){consequence}: start the cluster's worker or the receiver once, they declare it", e);
        }
    }
}
