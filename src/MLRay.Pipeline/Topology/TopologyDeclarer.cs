using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Failures;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MLRay.Pipeline.Topology;

/// <summary>
/// Declares MLRay's exchanges, queues and bindings before anything publishes, so no message is dropped for want
/// of a queue: the receiver may start before any router, and the router before any worker. Queue arguments match
/// what MassTransit declares for the same endpoints (quorum with <see cref="QueueReplication"/>'s group size; single active
/// consumer on cluster queues, not on their <c>_error</c> queues). Every declaration is idempotent: <see cref="TopologyRepair"/>
/// runs the same ones again when the broker lost them. The first declaration runs once per process, started by whoever
/// needs it first: this hosted service, or the bus, whose endpoints take the group sizes it found (<see cref="DeclaredAsync"/>).
/// </summary>
public sealed class TopologyDeclarer : IHostedService
{
    public const string SingleActiveConsumerArgument = "x-single-active-consumer";

    private readonly MLRayConfig _config;
    private readonly QueueReplication _replication;
    private readonly ILogger<TopologyDeclarer> _log;
    private readonly RabbitMqEndpoint _broker;
    private readonly Lazy<Task> _declared;

    public TopologyDeclarer(MLRayConfig config, QueueReplication replication, ILogger<TopologyDeclarer> log)
    {
        (_config, _replication, _log) = (config, replication, log);
        _broker = RabbitMqEndpoint.For(config.Pipeline);
        _declared = new Lazy<Task>(() => Task.Run(DeclareWithRetriesAsync));
    }

    /// <summary>Completes once the topology has been declared (and each quorum queue's group size settled); throws if it never was.</summary>
    public Task DeclaredAsync(CancellationToken ct) => _declared.Value.WaitAsync(ct);

    public Task StartAsync(CancellationToken ct) => DeclaredAsync(ct);

    private async Task DeclareWithRetriesAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await _broker.ConnectAsync("mlray-topology", TimeSpan.FromSeconds(10), CancellationToken.None);
                await DeclareAsync(connection, _config, _replication, _log, CancellationToken.None);
                _log.LogInformation("Declared MLRay topology on {Broker} (quorum queues: {GroupSize})", _broker,
                    _replication.GroupSize is { } size ? $"{size} replicas" : "the broker's default replicas");
                return;
            }
            catch (Exception e) when (attempt < 30)
            {
                _log.LogWarning("Broker {Broker} not ready ({Error}); retrying", _broker, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)));
            }
        }
    }

    /// <summary>
    /// Declares MLRay's exchanges, queues and bindings for <paramref name="config"/>'s clusters on <paramref name="connection"/>,
    /// each quorum queue with <paramref name="replication"/>'s group size, or the one it already has (adopted, logged once).
    /// </summary>
    public static async Task DeclareAsync(IConnection connection, MLRayConfig config, QueueReplication replication, ILogger log, CancellationToken ct)
    {
        var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        // A refused declaration closes its channel: the quorum declarations go on with the one they return.
        async Task Quorum(string queue, bool singleActiveConsumer) =>
            channel = await DeclareQuorumAsync(connection, channel, queue, singleActiveConsumer, replication, log, ct);
        // A wait queue dead-letters what expires onto its cluster queue; quorum like the others with several nodes (RabbitMQ
        // 3.10 expires and dead-letters per-message TTLs in quorum queues too), classic with one, or when it exists classic.
        async Task Waiting(string wait, string target)
        {
            var deadLetter = new Dictionary<string, object?> { ["x-dead-letter-exchange"] = "", ["x-dead-letter-routing-key"] = target };
            if (replication.IsClassic(wait))
                await channel.QueueDeclareAsync(wait, durable: true, exclusive: false, autoDelete: false, arguments: deadLetter, cancellationToken: ct);
            else
                channel = await DeclareQuorumAsync(connection, channel, wait, false, replication, log, ct, deadLetter);
        }
        try
        {
            await channel.ExchangeDeclareAsync(PipelineTopology.RegistryChangedExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
            await Quorum(PipelineTopology.RegistryChangesQueue, false);
            await channel.QueueBindAsync(PipelineTopology.RegistryChangesQueue, PipelineTopology.RegistryChangedExchange, "", cancellationToken: ct);

            await channel.ExchangeDeclareAsync(PipelineTopology.ResyncExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
            await Quorum(PipelineTopology.ResyncQueue, true);
            await channel.QueueBindAsync(PipelineTopology.ResyncQueue, PipelineTopology.ResyncExchange, "", cancellationToken: ct);

            await channel.ExchangeDeclareAsync(PipelineTopology.UnroutableExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
            await Quorum(PipelineTopology.UnroutableQueue, false);
            await channel.QueueBindAsync(PipelineTopology.UnroutableQueue, PipelineTopology.UnroutableExchange, "", cancellationToken: ct);

            await channel.ExchangeDeclareAsync(PipelineTopology.DeployExchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: ct);
            await channel.ExchangeDeclareAsync(PipelineTopology.DeadLetterExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: ct);
            foreach (var cluster in config.Clusters)
            {
                var queue = PipelineTopology.ClusterQueue(cluster.Name);
                await Quorum(queue, true);
                await channel.QueueBindAsync(queue, PipelineTopology.DeployExchange, PipelineTopology.BindingKey(cluster.PythonVersion), cancellationToken: ct);
                await channel.QueueBindAsync(queue, PipelineTopology.DeployExchange, PipelineTopology.BroadcastKey, cancellationToken: ct);
                // Declared up front (MassTransit would only on the first failure) so ops find it; without single active
                // consumer, as MassTransit is configured to declare it, so its messages can be browsed.
                await Quorum(PipelineTopology.ErrorQueue(queue), false);

                // Dead letters: classic, so listing them (get, then requeue) keeps their order and no delivery limit applies.
                await channel.QueueDeclareAsync(PipelineTopology.DeadLetterQueue(cluster.Name), durable: true, exclusive: false, autoDelete: false,
                    arguments: null, cancellationToken: ct);
                await channel.QueueBindAsync(PipelineTopology.DeadLetterQueue(cluster.Name), PipelineTopology.DeadLetterExchange, cluster.Name, cancellationToken: ct);

                // Wake-ups wait here until their TTL expires, then the broker moves them onto the cluster queue.
                foreach (var level in WaitLevels.For(cluster))
                {
                    var wait = PipelineTopology.WaitQueue(cluster.Name, level);
                    await channel.ExchangeDeclareAsync(wait, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
                    await Waiting(wait, queue);
                    await channel.QueueBindAsync(wait, wait, "", cancellationToken: ct);
                }
            }
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    /// <summary>
    /// Declares one quorum queue with <paramref name="replication"/>'s group size for it. When the broker refuses that because
    /// the queue exists with another one (which closes the channel), the alternatives are tried on fresh channels until one
    /// matches: that one is adopted. Returns the channel to go on with.
    /// </summary>
    private static async Task<IChannel> DeclareQuorumAsync(IConnection connection, IChannel channel, string queue, bool singleActiveConsumer,
        QueueReplication replication, ILogger log, CancellationToken ct, IReadOnlyDictionary<string, object?>? more = null)
    {
        IDictionary<string, object?> With(IDictionary<string, object?> args)
        {
            foreach (var (key, value) in more ?? new Dictionary<string, object?>()) args[key] = value;
            return args;
        }
        try
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
                arguments: With(replication.Arguments(queue, singleActiveConsumer)), cancellationToken: ct);
            return channel;
        }
        catch (OperationInterruptedException e) when (more is not null && Inequivalent(e, "x-queue-type"))
        {
            // A wait queue an older MLRay declared classic: kept (it holds wake-ups), on its one node.
            await channel.DisposeAsync();
            channel = await connection.CreateChannelAsync(cancellationToken: ct);
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: With(new Dictionary<string, object?>()), cancellationToken: ct);
            replication.KeepClassic(queue);
            log.LogWarning("Queue {Queue} exists as a classic queue (declared by an older MLRay); kept as it is: it lives on one node, and while " +
                "that node is down wake-ups cannot wait in it (delete it once while empty and MLRay declares it as a quorum queue)", queue);
            return channel;
        }
        catch (OperationInterruptedException e) when (OtherGroupSize(e))
        {
            var wanted = replication.For(queue);
            foreach (var existing in replication.Alternatives(queue))
            {
                await channel.DisposeAsync();
                channel = await connection.CreateChannelAsync(cancellationToken: ct);
                try
                {
                    await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
                        arguments: With(QueueReplication.QuorumArguments(existing, singleActiveConsumer)), cancellationToken: ct);
                }
                catch (OperationInterruptedException again) when (OtherGroupSize(again))
                {
                    continue;
                }
                replication.Adopt(queue, existing);
                log.LogWarning("Queue {Queue} exists with {Existing} (declared by an older MLRay or for another number of nodes); kept as it is " +
                    "instead of {Wanted}: its replicas do not change (rabbitmq-queues grow/shrink changes them)", queue,
                    Describe(existing), Describe(wanted));
                return channel;
            }
            throw;
        }
    }

    private static string Describe(int? groupSize) =>
        groupSize is { } size ? $"{QueueReplication.GroupSizeArgument} = {size}" : $"no {QueueReplication.GroupSizeArgument}";

    /// <summary>406 PRECONDITION_FAILED because the queue exists with another (or no) initial group size.</summary>
    private static bool OtherGroupSize(OperationInterruptedException e) => Inequivalent(e, QueueReplication.GroupSizeArgument);

    /// <summary>406 PRECONDITION_FAILED naming <paramref name="argument"/>: the queue exists with another value of it.</summary>
    private static bool Inequivalent(OperationInterruptedException e, string argument) =>
        e.ShutdownReason is { ReplyCode: Constants.PreconditionFailed } reason && reason.ReplyText.Contains($"'{argument}'", StringComparison.Ordinal);

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
