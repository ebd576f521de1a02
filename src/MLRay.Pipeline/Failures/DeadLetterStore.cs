using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Publishing;
using MLRay.Pipeline.Topology;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MLRay.Pipeline.Failures;

/// <summary>One message of a cluster's dead-letter queue: the letter, or why its body is not one (it is still listed and purgeable).</summary>
public sealed record DeadLetterEntry(string Id, ModelDeadLettered? Letter, DateTimeOffset? DeadLetteredAt, string? Problem);

/// <summary>What the resync's census did to <c>mlray.unroutable</c>: the models still to park, and how many parked messages it removed.</summary>
public sealed record UnroutableCensus(IReadOnlyList<ModelUnroutable> ToPark, int Released);

/// <summary>One message of <c>mlray.unroutable</c>: the model no cluster serves, and the router's reason (header <c>mlray-reason</c>).</summary>
public sealed record UnroutableEntry(string Id, ModelUnroutable? Model, string? Reason, DateTimeOffset? ParkedAt, string? Problem);

/// <summary>What a replay or purge did: the letters it removed, and each selected id or model it could not act on.</summary>
public sealed record DeadLetterOutcome(IReadOnlyList<DeadLetterEntry> Removed, IReadOnlyList<string> Problems);

/// <summary>A cluster's dead letters counted by failure class (those beyond the peek or unreadable under <see cref="Unknown"/>), and the oldest one's time.</summary>
public sealed record DeadLetterCensus(IReadOnlyDictionary<string, int> ByClass, DateTimeOffset? Oldest)
{
    public const string Unknown = "unknown";
}

/// <summary>Which letters an operation is about: <c>--id ID…</c>, <c>--model NAME</c> (registered model or app) or <c>--all</c> — exactly one.</summary>
public sealed record LetterSelection
{
    public IReadOnlyList<string> Ids { get; init; } = [];
    public string? Model { get; init; }
    public bool All { get; init; }

    /// <summary>Null when exactly one way of selecting is given, else what is wrong.</summary>
    public string? Problem =>
        ((Ids.Count > 0 ? 1 : 0) + (Model is not null ? 1 : 0) + (All ? 1 : 0)) switch
        {
            0 => "say which letters: ids, a model, or all",
            1 => Ids.Any(string.IsNullOrWhiteSpace) || Model is "" ? "an id or model name is empty" : null,
            _ => "give only one of ids, a model, or all",
        };

    public bool Selects(DeadLetterEntry entry) =>
        All || Ids.Contains(entry.Id, StringComparer.Ordinal)
        || Model is not null && entry.Letter is { } l && (l.RegisteredModel == Model || l.App == Model);
}

/// <summary>
/// Lists, shows, replays and purges the dead letters of a cluster (<c>mlray.cluster.&lt;name&gt;.dead-letters</c>), and
/// lists <c>mlray.unroutable</c>, on RabbitMQ.Client. Every operation holds the queue's messages the same way: it takes the
/// queue's lock, <c>basic.get</c>s every message without acking, acks only those it removes, then closes the channel,
/// which requeues the rest in their original order (classic queues keep a requeued message's position). So a listing
/// never consumes, loses or reorders a letter, and changes nothing a later replay sees.
/// <para>
/// The lock is an exclusive queue <c>&lt;queue&gt;.lock</c>: the broker lets one connection own it and deletes it when that
/// connection dies. Without it, a listing would miss the letters another reader (a metrics scrape, a second operator)
/// holds unacked at that moment. Each operation opens its own connection, so the lock also separates callers in one process.
/// </para>
/// </summary>
public sealed class DeadLetterStore(RabbitMqEndpoint broker)
{
    /// <summary>How long an operation waits for another reader of the same queue to finish.</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromSeconds(15);

    public static string LockQueue(string queue) => $"{queue}.lock";

    /// <summary>The one "no such letter" problem: each unknown id of a replay or purge, and a show of one.</summary>
    public static string NoSuchLetter(string cluster, string id) => $"no dead letter '{id}' in {PipelineTopology.DeadLetterQueue(cluster)}";

    public Task<IReadOnlyList<DeadLetterEntry>> ListAsync(string cluster, CancellationToken ct) =>
        HoldAsync(PipelineTopology.DeadLetterQueue(cluster), "list", int.MaxValue, LockWait,
            session => Task.FromResult<IReadOnlyList<DeadLetterEntry>>([.. session.Held.Select(h => ReadLetter(h))]), ct)!;

    /// <summary>As <see cref="ListAsync"/>, but a queue that does not exist yet (no receiver or worker ever ran) has no letters.</summary>
    public async Task<IReadOnlyList<DeadLetterEntry>> ListIfDeclaredAsync(string cluster, CancellationToken ct) =>
        await HoldAsync(PipelineTopology.DeadLetterQueue(cluster), "list", int.MaxValue, LockWait,
            session => Task.FromResult<IReadOnlyList<DeadLetterEntry>>([.. session.Held.Select(h => ReadLetter(h))]), ct, missingQueueIsNull: true) ?? [];

    public Task<IReadOnlyList<UnroutableEntry>> ListUnroutableAsync(CancellationToken ct) =>
        HoldAsync(PipelineTopology.UnroutableQueue, "list", int.MaxValue, LockWait,
            session => Task.FromResult<IReadOnlyList<UnroutableEntry>>([.. session.Held.Select(ReadUnroutable)]), ct)!;

    /// <summary>
    /// The resync's census against <c>mlray.unroutable</c>: removes every parked message that <paramref name="stillParked"/>
    /// does not keep (its model is routable now, gone, or parked twice), and says which of <paramref name="unroutable"/> are
    /// not parked yet (the caller parks them). The rest stay, in their order.
    /// </summary>
    public async Task<UnroutableCensus> ReleaseUnroutableAsync(IReadOnlyList<ModelUnroutable> unroutable, CancellationToken ct) =>
        (await HoldAsync(PipelineTopology.UnroutableQueue, "census", int.MaxValue, LockWait, async session =>
        {
            var wanted = unroutable.ToDictionary(m => m.RegisteredModel, StringComparer.Ordinal);
            var kept = new HashSet<string>(StringComparer.Ordinal);
            var released = 0;
            foreach (var held in session.Held)
            {
                var parked = ReadUnroutable(held).Model;
                if (parked is not null && wanted.GetValueOrDefault(parked.RegisteredModel) is { } now && parked.SameParking(now) && kept.Add(parked.RegisteredModel))
                    continue;
                await session.AckAsync(held, ct);
                released++;
            }
            return new UnroutableCensus([.. unroutable.Where(m => !kept.Contains(m.RegisteredModel))], released);
        }, ct))!;

    /// <summary>
    /// For each selected letter: publishes <c>ClusterDeployRequested { ReplayOf = letter id }</c> to the letter's cluster
    /// queue only (default exchange, mandatory, confirmed by the broker), then removes the letter. A letter whose publish
    /// fails stays where it was. The worker gives the version fresh attempts once per letter id, so a repeated replay is harmless.
    /// </summary>
    public Task<DeadLetterOutcome> ReplayAsync(string cluster, LetterSelection selection, CancellationToken ct)
    {
        var queue = PipelineTopology.ClusterQueue(cluster);
        var replayed = new HashSet<string>(StringComparer.Ordinal);
        return RemoveAsync(cluster, selection, "replay", async (session, entry) =>
        {
            if (entry.Letter is not { } letter) return $"'{entry.Id}' is not a readable dead letter ({entry.Problem}), so it cannot be replayed; purge it";
            if (!replayed.Add(letter.Id)) return null;   // the same letter twice in the queue: one replay request is enough
            var request = new ClusterDeployRequested
            {
                RoutingKey = queue, Reason = "replay", RegisteredModel = letter.RegisteredModel, Version = letter.Version,
                ReplayOf = letter.Id, DeliveryId = letter.DeliveryIds.FirstOrDefault(),
            };
            await session.SendConfirmedAsync(broker, cluster, request, ct);
            return null;
        }, ct);
    }

    /// <summary>Removes the selected letters for good.</summary>
    public Task<DeadLetterOutcome> PurgeAsync(string cluster, LetterSelection selection, CancellationToken ct) =>
        RemoveAsync(cluster, selection, "purge", (_, _) => Task.FromResult<string?>(null), ct);

    /// <summary>
    /// Counts by failure class from a bounded peek (at most <paramref name="peek"/> letters read), for the metrics. Null when
    /// another reader holds the queue (a scrape never waits) or the queue does not exist.
    /// </summary>
    public Task<DeadLetterCensus?> CensusAsync(string cluster, int peek, CancellationToken ct) =>
        HoldAsync<DeadLetterCensus>(PipelineTopology.DeadLetterQueue(cluster), "count", peek, TimeSpan.Zero, session =>
        {
            var entries = session.Held.Select(h => ReadLetter(h)).ToList();
            var byClass = entries.GroupBy(e => e.Letter?.FailureClass ?? DeadLetterCensus.Unknown).ToDictionary(g => g.Key, g => g.Count());
            if (session.Remaining > 0) byClass[DeadLetterCensus.Unknown] = byClass.GetValueOrDefault(DeadLetterCensus.Unknown, 0) + (int)session.Remaining;
            // The queue's head is its oldest letter; requeued letters keep their place, so it stays the head.
            var oldest = entries.Select(e => e.DeadLetteredAt ?? e.Letter?.LastFailure).Where(t => t is not null).Min();
            return Task.FromResult(new DeadLetterCensus(byClass, oldest));
        }, ct, missingQueueIsNull: true);

    /// <summary>The number of messages in <c>mlray.unroutable</c> (a passive declare: nothing is read).</summary>
    public async Task<uint> CountUnroutableAsync(CancellationToken ct) => await GuardAsync("count " + PipelineTopology.UnroutableQueue, async () =>
    {
        await using var connection = await ConnectAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        return (await channel.QueueDeclarePassiveAsync(PipelineTopology.UnroutableQueue, ct)).MessageCount;
    });

    private async Task<DeadLetterOutcome> RemoveAsync(string cluster, LetterSelection selection, string verb,
        Func<Session, DeadLetterEntry, Task<string?>> beforeRemoving, CancellationToken ct)
    {
        if (selection.Problem is { } problem) throw new ArgumentException(problem, nameof(selection));
        var queue = PipelineTopology.DeadLetterQueue(cluster);
        return (await HoldAsync(queue, verb, int.MaxValue, LockWait, async session =>
        {
            var removed = new List<DeadLetterEntry>();
            var problems = new List<string>();
            var entries = session.Held.Select(h => (Held: h, Entry: ReadLetter(h))).ToList();
            foreach (var (held, entry) in entries.Where(e => selection.Selects(e.Entry)))
            {
                if (await beforeRemoving(session, entry) is { } refused)
                {
                    problems.Add(refused);
                    continue;
                }
                await session.AckAsync(held, ct);
                removed.Add(entry);
            }
            problems.AddRange(selection.Ids.Distinct().Where(id => entries.All(e => e.Entry.Id != id)).Select(id => NoSuchLetter(cluster, id)));
            if (selection.Model is { } model && removed.Count == 0 && problems.Count == 0)
                problems.Add($"no dead letter of model '{model}' in {queue}");
            return new DeadLetterOutcome(removed, problems);
        }, ct))!;
    }

    private static DeadLetterEntry ReadLetter(BasicGetResult held)
    {
        var read = MassTransitEnvelope.Deserialize<ModelDeadLettered>(held.Body);
        var id = read.Message?.Id ?? read.MessageId ?? held.BasicProperties.MessageId ?? $"unreadable-{held.DeliveryTag}";
        return new DeadLetterEntry(id, read.Message, read.SentTime, read.Problem);
    }

    private static UnroutableEntry ReadUnroutable(BasicGetResult held)
    {
        var read = MassTransitEnvelope.Deserialize<ModelUnroutable>(held.Body);
        object? header = null;
        held.BasicProperties.Headers?.TryGetValue(PipelineTopology.ReasonHeader, out header);
        var reason = header switch
        {
            byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
            { } other => other.ToString(),
            null => read.Message?.Reason,
        };
        return new UnroutableEntry(read.MessageId ?? held.BasicProperties.MessageId ?? $"unreadable-{held.DeliveryTag}", read.Message, reason, read.SentTime, read.Problem);
    }

    /// <summary>The queue's messages, held unacked by <see cref="Held"/>'s channel until the session ends.</summary>
    private sealed class Session(IConnection connection, IChannel channel, List<BasicGetResult> held, uint remaining)
    {
        private IChannel? _confirms;

        public IReadOnlyList<BasicGetResult> Held => held;
        /// <summary>Messages left in the queue beyond the peek's bound.</summary>
        public uint Remaining => remaining;

        public Task AckAsync(BasicGetResult message, CancellationToken ct) => channel.BasicAckAsync(message.DeliveryTag, multiple: false, ct).AsTask();

        /// <summary>To <paramref name="cluster"/>'s queue only, awaited until the broker confirms; a request no queue took leaves its letter where it is.</summary>
        public async Task SendConfirmedAsync(RabbitMqEndpoint broker, string cluster, ClusterDeployRequested request, CancellationToken ct)
        {
            _confirms ??= await connection.CreateChannelAsync(RabbitMqEndpoint.ConfirmedPublishes, ct);
            await ClusterQueueSender.PublishAsync(_confirms, broker, cluster, request, ct, consequence: ", so its letter stays");
        }

        public async Task EndAsync()
        {
            if (_confirms is not null) await _confirms.DisposeAsync();
            // Closing the channel requeues every message not acked, each at its old position; then the lock goes with the connection.
            // A channel the broker already closed has requeued them itself; saying so again must not hide the first error.
            try
            {
                await channel.CloseAsync();
            }
            catch (AlreadyClosedException)
            {
            }
            await channel.DisposeAsync();
        }
    }

    /// <summary>
    /// Takes the lock (waiting up to <paramref name="lockWait"/>; null when it stays taken), gets up to <paramref name="limit"/>
    /// messages without acking, runs <paramref name="act"/>, and always ends by requeueing what was not acked.
    /// </summary>
    private Task<T?> HoldAsync<T>(string queue, string verb, int limit, TimeSpan lockWait, Func<Session, Task<T>> act, CancellationToken ct, bool missingQueueIsNull = false)
        where T : class =>
        GuardAsync($"{verb} {queue}", async () =>
        {
            await using var connection = await ConnectAsync(ct);
            if (!await TryLockAsync(connection, queue, lockWait, ct))
                return lockWait == TimeSpan.Zero ? null
                    : throw new BrokerException($"{queue} is held by another reader (its lock queue {LockQueue(queue)} exists) for more than {lockWait.TotalSeconds:0} s; try again");
            var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            var held = new List<BasicGetResult>();
            uint remaining = 0;
            try
            {
                while (held.Count < limit && await channel.BasicGetAsync(queue, autoAck: false, ct) is { } message)
                {
                    held.Add(message);
                    remaining = message.MessageCount;
                }
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
                if (missingQueueIsNull) return null;
                throw new BrokerException($"queue {queue} does not exist on {broker}: start a receiver or worker with this config once (they declare it)", e);
            }
            if (held.Count < limit) remaining = 0;
            var session = new Session(connection, channel, held, remaining);
            try
            {
                return await act(session);
            }
            finally
            {
                await session.EndAsync();
            }
        });

    private static async Task<bool> TryLockAsync(IConnection connection, string queue, TimeSpan wait, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            try
            {
                // Exclusive: owned by this connection (not the channel), refused to any other while it lives.
                await channel.QueueDeclareAsync(LockQueue(queue), durable: false, exclusive: true, autoDelete: true, arguments: null, cancellationToken: ct);
                return true;
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 405)
            {
                if (DateTime.UtcNow >= deadline) return false;
                await Task.Delay(100, ct);
            }
        }
    }

    private Task<IConnection> ConnectAsync(CancellationToken ct)
    {
        // One short operation per connection: fail, don't linger.
        return broker.ConnectAsync("mlray-dead-letters", TimeSpan.FromSeconds(5), ct);
    }

    private Task<T> GuardAsync<T>(string what, Func<Task<T>> operation) => BrokerException.GuardAsync(broker, what, operation);
}
