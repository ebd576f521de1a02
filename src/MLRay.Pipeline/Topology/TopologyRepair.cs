using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MLRay.Pipeline.Topology;

/// <summary>
/// Declares MLRay's topology again (<see cref="TopologyDeclarer.DeclareAsync"/>, idempotent) when the broker lost it while
/// this process runs: its vhost deleted and created again, the node reset, a non-persistent volume lost. Connections
/// come back by themselves after that; exchanges, queues and bindings do not (MassTransit re-declares only its receive
/// endpoints' queues, and MLRay's bindings are not its to declare), so without this the receiver refuses every webhook
/// and a worker's bindings stay gone until they are restarted. A readiness probe (receiver and workers) or the receiver's
/// publish that meets NOT_FOUND asks for a repair.
/// One repair at a time, and whoever asks meanwhile awaits that one; at most one attempt per <see cref="MinInterval"/>,
/// so a burst of failing webhooks or probes costs one declare, not a storm. Each attempt logs one Warning.
/// </summary>
public sealed class TopologyRepair(MLRayConfig config, QueueReplication replication, TimeProvider time, ILogger<TopologyRepair> log)
{
    /// <summary>The shortest time between two attempts.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(5);
    // Its own bound, not the asking request's: a webhook that gives up (503) does not cut the repair short for the next one.
    private static readonly TimeSpan DeclareTimeout = TimeSpan.FromSeconds(15);

    private readonly RabbitMqEndpoint _broker = RabbitMqEndpoint.For(config.Pipeline);
    private readonly Lock _lock = new();
    private Task<bool>? _running;
    private DateTimeOffset? _lastAttempt;
    private long _completed;

    /// <summary>How many repairs have succeeded so far: read it before the broker operation whose failure may ask for one.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>
    /// The broker's reply text when <paramref name="error"/> (or an exception inside it) is a channel closed with 404
    /// NOT_FOUND, i.e. an exchange or queue the operation named is not there; null for any other failure.
    /// </summary>
    public static string? MissingDefinition(Exception error) => error switch
    {
        OperationInterruptedException { ShutdownReason: { ReplyCode: Constants.NotFound } reason } => reason.ReplyText,
        _ => error.InnerException is { } inner ? MissingDefinition(inner) : null,
    };

    /// <summary>
    /// True when the topology has been declared again since the caller read <paramref name="completedBefore"/> from
    /// <see cref="Completed"/> (by this call, by one running, or by one that finished meanwhile): retry the operation.
    /// False when the declare failed, or when the last attempt was less than <see cref="MinInterval"/> ago: give up (503).
    /// <paramref name="symptom"/> says what met the missing definition, for the log.
    /// </summary>
    public Task<bool> RepairAsync(long completedBefore, string symptom, CancellationToken ct)
    {
        Task<bool> repair;
        lock (_lock)
        {
            if (Completed > completedBefore) return Task.FromResult(true);
            if (_running is { IsCompleted: false } running) repair = running;
            else if (_lastAttempt is { } last && time.GetUtcNow() - last < MinInterval) return Task.FromResult(false);
            else
            {
                _lastAttempt = time.GetUtcNow();
                repair = _running = Task.Run(() => DeclareAsync(symptom), CancellationToken.None);
            }
        }
        return repair.WaitAsync(ct);
    }

    private async Task<bool> DeclareAsync(string symptom)
    {
        using var timeout = new CancellationTokenSource(DeclareTimeout);
        try
        {
            await using var connection = await _broker.ConnectAsync("mlray topology repair", DeclareTimeout, timeout.Token);
            await TopologyDeclarer.DeclareAsync(connection, config, replication, log, timeout.Token);
            Interlocked.Increment(ref _completed);
            log.LogWarning("Broker {Broker} lost its definitions ({Symptom}); re-declared MLRay's exchanges, queues and bindings", _broker, symptom);
            return true;
        }
        catch (Exception e)
        {
            log.LogWarning("Broker {Broker} lost its definitions ({Symptom}); re-declaring them failed ({Error}), next attempt in {Interval} s at the earliest",
                _broker, symptom, e.Message, MinInterval.TotalSeconds);
            return false;
        }
    }
}
