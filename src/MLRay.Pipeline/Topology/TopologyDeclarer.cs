using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Failures;
using RabbitMQ.Client;

namespace MLRay.Pipeline.Topology;

/// <summary>
/// Declares MLRay's exchanges, queues and bindings before anything publishes, so no message is dropped for want
/// of a queue: the receiver may start before any router, and the router before any worker. Queue arguments match
/// what MassTransit declares for the same endpoints (quorum; single active consumer on cluster queues, not on their
/// <c>_error</c> queues). Every declaration is idempotent: <see cref="TopologyRepair"/> runs the same ones again when
/// the broker lost them.
/// </summary>
public sealed class TopologyDeclarer(MLRayConfig config, ILogger<TopologyDeclarer> log) : IHostedService
{
    public const string SingleActiveConsumerArgument = "x-single-active-consumer";

    public static IDictionary<string, object?> QuorumArguments(bool singleActiveConsumer)
    {
        var args = new Dictionary<string, object?> { ["x-queue-type"] = "quorum" };
        if (singleActiveConsumer) args[SingleActiveConsumerArgument] = true;
        return args;
    }

    public async Task StartAsync(CancellationToken ct)
    {
        var endpoint = RabbitMqEndpoint.Parse(config.Pipeline.RabbitMqUri);
        var factory = endpoint.ConnectionFactory();

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await factory.CreateConnectionAsync("mlray-topology", ct);
                await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
                await DeclareAsync(channel, config, ct);
                log.LogInformation("Declared MLRay topology on {Broker}", endpoint);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && attempt < 30)
            {
                log.LogWarning("Broker {Broker} not ready ({Error}); retrying", endpoint, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)), ct);
            }
        }
    }

    /// <summary>Declares MLRay's exchanges, queues and bindings for <paramref name="config"/>'s clusters on <paramref name="channel"/>.</summary>
    public static async Task DeclareAsync(IChannel channel, MLRayConfig config, CancellationToken ct)
    {
        await channel.ExchangeDeclareAsync(PipelineTopology.RegistryChangedExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        await channel.QueueDeclareAsync(PipelineTopology.RegistryChangesQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: QuorumArguments(false), cancellationToken: ct);
        await channel.QueueBindAsync(PipelineTopology.RegistryChangesQueue, PipelineTopology.RegistryChangedExchange, "", cancellationToken: ct);

        await channel.ExchangeDeclareAsync(PipelineTopology.ResyncExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        await channel.QueueDeclareAsync(PipelineTopology.ResyncQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: QuorumArguments(true), cancellationToken: ct);
        await channel.QueueBindAsync(PipelineTopology.ResyncQueue, PipelineTopology.ResyncExchange, "", cancellationToken: ct);

        await channel.ExchangeDeclareAsync(PipelineTopology.UnroutableExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        await channel.QueueDeclareAsync(PipelineTopology.UnroutableQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: QuorumArguments(false), cancellationToken: ct);
        await channel.QueueBindAsync(PipelineTopology.UnroutableQueue, PipelineTopology.UnroutableExchange, "", cancellationToken: ct);

        await channel.ExchangeDeclareAsync(PipelineTopology.DeployExchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: ct);
        await channel.ExchangeDeclareAsync(PipelineTopology.DeadLetterExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: ct);
        foreach (var cluster in config.Clusters)
        {
            var queue = PipelineTopology.ClusterQueue(cluster.Name);
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
                arguments: QuorumArguments(true), cancellationToken: ct);
            await channel.QueueBindAsync(queue, PipelineTopology.DeployExchange, PipelineTopology.BindingKey(cluster.PythonVersion), cancellationToken: ct);
            await channel.QueueBindAsync(queue, PipelineTopology.DeployExchange, PipelineTopology.BroadcastKey, cancellationToken: ct);
            // Declared up front (MassTransit would only on the first failure) so ops find it; without single active
            // consumer, as MassTransit is configured to declare it, so its messages can be browsed.
            await channel.QueueDeclareAsync(PipelineTopology.ErrorQueue(queue), durable: true, exclusive: false, autoDelete: false,
                arguments: QuorumArguments(false), cancellationToken: ct);

            // Dead letters: classic, so listing them (get, then requeue) keeps their order and no delivery limit applies.
            await channel.QueueDeclareAsync(PipelineTopology.DeadLetterQueue(cluster.Name), durable: true, exclusive: false, autoDelete: false,
                arguments: null, cancellationToken: ct);
            await channel.QueueBindAsync(PipelineTopology.DeadLetterQueue(cluster.Name), PipelineTopology.DeadLetterExchange, cluster.Name, cancellationToken: ct);

            // Wake-ups wait here until their TTL expires, then the broker moves them onto the cluster queue.
            foreach (var level in WaitLevels.For(cluster))
            {
                var wait = PipelineTopology.WaitQueue(cluster.Name, level);
                await channel.ExchangeDeclareAsync(wait, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
                await channel.QueueDeclareAsync(wait, durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?>
                {
                    ["x-dead-letter-exchange"] = "",
                    ["x-dead-letter-routing-key"] = queue,
                }, cancellationToken: ct);
                await channel.QueueBindAsync(wait, wait, "", cancellationToken: ct);
            }
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
