using System.Collections.Concurrent;

namespace MLRay.Pipeline.Topology;

/// <summary>
/// The <c>x-quorum-initial-group-size</c> each of MLRay's quorum queues is declared with, by both declarers (<see cref="TopologyDeclarer"/>
/// and MassTransit's receive endpoints): RabbitMQ compares it when a queue is declared again and refuses a difference —
/// present or absent included — with 406 PRECONDITION_FAILED. So a queue that already exists with another value (declared by
/// an older MLRay, which set none, or while config named another number of nodes) keeps it: <see cref="Adopt"/> records what
/// the broker has, and every later declaration of that queue in this process uses it.
/// </summary>
public sealed class QueueReplication(int? groupSize)
{
    public const string GroupSizeArgument = "x-quorum-initial-group-size";
    private readonly ConcurrentDictionary<string, int?> _adopted = new(StringComparer.Ordinal);

    /// <summary>What config asks for (<see cref="RabbitMqEndpoint.QuorumGroupSize"/>); null leaves it to the broker.</summary>
    public int? GroupSize => groupSize;

    /// <summary>The value <paramref name="queue"/> is declared with: the one it exists with if it was adopted, else <see cref="GroupSize"/>.</summary>
    public int? For(string queue) => _adopted.TryGetValue(queue, out var existing) ? existing : groupSize;

    /// <summary>Records that <paramref name="queue"/> exists with <paramref name="existing"/> (null: without the argument).</summary>
    public void Adopt(string queue, int? existing) => _adopted[queue] = existing;

    /// <summary>
    /// Whether <paramref name="queue"/>, a wait queue, is declared classic: always with one node configured (as before node
    /// lists), and when it already exists classic (<see cref="KeepClassic"/>). With several nodes a new one is a quorum queue,
    /// so a wake-up waiting in it survives its node (a classic queue lives on one node: while that node is down, publishes
    /// to it are refused).
    /// </summary>
    public bool IsClassic(string queue) => groupSize is null || _classic.ContainsKey(queue);

    /// <summary>Records that the wait queue <paramref name="queue"/> exists as a classic queue (declared by an older MLRay).</summary>
    public void KeepClassic(string queue) => _classic[queue] = 0;
    private readonly ConcurrentDictionary<string, byte> _classic = new(StringComparer.Ordinal);

    /// <summary>
    /// The values to try, in order, when a declaration of a queue with <see cref="For"/> was refused for this argument: none
    /// (what MLRay declared before it knew about clusters), then each group size a cluster may have had.
    /// </summary>
    public IEnumerable<int?> Alternatives(string queue) =>
        new int?[] { null, 1, 2, 3, 4, 5, 6, 7 }.Where(v => v != For(queue));

    /// <summary>A quorum queue's arguments: <c>x-queue-type</c>, the group size when there is one, single active consumer when asked.</summary>
    public IDictionary<string, object?> Arguments(string queue, bool singleActiveConsumer) =>
        QuorumArguments(For(queue), singleActiveConsumer);

    public static IDictionary<string, object?> QuorumArguments(int? groupSize, bool singleActiveConsumer)
    {
        var args = new Dictionary<string, object?> { ["x-queue-type"] = "quorum" };
        if (groupSize is { } size) args[GroupSizeArgument] = size;
        if (singleActiveConsumer) args[TopologyDeclarer.SingleActiveConsumerArgument] = true;
        return args;
    }
}
