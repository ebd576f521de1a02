using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Resync;
using MLRay.Pipeline.Status;
using MLRay.Serve;
using MLRay.Telemetry;
using System.Diagnostics;

namespace MLRay.Pipeline.Workers;

/// <summary>What a worker did, for metrics, logs and tests.</summary>
public sealed record WorkerActivity(string Cluster, IReadOnlyList<ClusterDeployRequested> Requests, bool Applied, IReadOnlyList<AttemptDecision> Decisions, DateTimeOffset At)
{
    /// <summary>False when the requests were already answered by an earlier reconcile (<see cref="RequestCoalescing"/>) and acked without one.</summary>
    public bool Reconciled { get; init; } = true;

    /// <summary>How long the reconcile took (zero when there was none).</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Every version it decided on runs.</summary>
    public bool Succeeded => Decisions.All(d => d.Phase == AttemptPhase.Running);
}

/// <summary>
/// One cluster's worker: the single writer around <see cref="ClusterReconciler"/> (one reconcile at a time in this process;
/// across processes the queue's single active consumer ensures it), the graceful handover, and the reconcile's side
/// effects — dead letters, then attempt, status and pre-flight tags, then a wake-up through the broker while an app is
/// in flight or a retry is due — and its telemetry. The message is acked as soon as Ray accepted the PUT, so one slow
/// install never holds up the cluster's other models.
/// </summary>
public sealed class ClusterWorker(ClusterReconciler reconciler, StatusTagWriter tags, WorkerJournal journal,
    IWakeUps wakeUps, IDeadLetters deadLetters, RegistryCensus census, ILogger<ClusterWorker> log)
{
    private readonly SemaphoreSlim _oneWriter = new(1, 1);
    private volatile bool _handingOver;
    private int _leftForSuccessor;
    // When the registry read of the last successful reconcile began: requests queued before it are answered.
    private DateTimeOffset? _readBegan;

    public RayClusterConfig Cluster => reconciler.Cluster;

    /// <summary>Requests acked without a reconcile since <see cref="StopReconcilingAsync"/>: the successor must look.</summary>
    public int LeftForSuccessor => Volatile.Read(ref _leftForSuccessor);

    /// <summary>
    /// Stops reconciling for a graceful stop: returns once the reconcile in progress (if any) has ended; requests
    /// consumed from then on are acked without one and counted in <see cref="LeftForSuccessor"/>.
    /// </summary>
    public async Task StopReconcilingAsync(CancellationToken ct)
    {
        _handingOver = true;
        await _oneWriter.WaitAsync(ct);
        _oneWriter.Release();
    }

    public async Task<WorkerActivity> ReconcileAsync(IReadOnlyList<ClusterDeployRequested> requests, CancellationToken ct)
    {
        var cluster = reconciler.Cluster.Name;
        await _oneWriter.WaitAsync(ct);
        try
        {
            if (_handingOver)
            {
                Interlocked.Add(ref _leftForSuccessor, requests.Count);
                log.LogInformation("Stopping: {Count} request(s) for {Cluster} left to the worker that takes over", requests.Count, cluster);
                return new WorkerActivity(cluster, requests, false, [], DateTimeOffset.UtcNow);
            }
            if (RequestCoalescing.Unanswered(cluster, requests, _readBegan).Count == 0)
            {
                MLRayTelemetry.Reconciles.Add(1, MLRayTelemetry.Tag("cluster", cluster), MLRayTelemetry.Tag("outcome", "coalesced"));
                log.LogDebug("{Count} request(s) for {Cluster} answered by the reconcile that began reading at {ReadBegan:O}", requests.Count, cluster, _readBegan);
                var answered = new WorkerActivity(cluster, requests, false, [], DateTimeOffset.UtcNow) { Reconciled = false };
                journal.Record(answered);
                return answered;
            }
            var deliveryIds = requests.Select(r => r.DeliveryId).OfType<string>().Distinct().ToArray();
            using var span = MLRayTelemetry.Source.StartActivity($"reconcile {cluster}");
            span?.SetTag(MLRayTelemetry.ClusterAttribute, cluster);
            span?.SetTag(MLRayTelemetry.DeliveryIdAttribute, string.Join(",", deliveryIds));
            var started = Stopwatch.GetTimestamp();
            using var scope = log.BeginScope(new Dictionary<string, object?> { ["Cluster"] = cluster, ["DeliveryIds"] = deliveryIds });

            var replays = requests.Select(r => r.ReplayOf).OfType<string>().ToHashSet(StringComparer.Ordinal);
            // An operator's rollout commands, the last one per model in the batch winning.
            var commands = requests.Where(r => r is { RolloutCommand: not null, RegisteredModel: not null })
                .GroupBy(r => r.RegisteredModel!).ToDictionary(g => g.Key, g => RolloutCommands.Parse(g.Last().RolloutCommand!), StringComparer.Ordinal);
            var result = await reconciler.ReconcileAsync(replays, commands, ct);
            if (result.Applied) MLRayTelemetry.Puts.Add(1, MLRayTelemetry.Tag("cluster", cluster));
            MLRayTelemetry.RecordApps(cluster, result.Current.Applications.Values.Select(a => a.Status));

            // Letters before tags: a letter is the durable record; a tag naming a letter that was never written would lie.
            foreach (var d in result.NewLetters)
            {
                await deadLetters.PublishAsync(Letter(d, deliveryIds), ct);
                MLRayTelemetry.DeadLetters.Add(1, MLRayTelemetry.Tag("cluster", cluster), MLRayTelemetry.Tag("class", d.Letter!.FailureClass));
            }
            foreach (var _ in result.Decisions.Where(d => d is { Phase: AttemptPhase.Deploying, StateChanged: true, State.Attempts: > 1 }))
                MLRayTelemetry.Retries.Add(1, MLRayTelemetry.Tag("cluster", cluster), MLRayTelemetry.Tag("class", FailureClass.Install));
            // A letter of a version that now runs is stale (its tags were fixed since): out of the queue, so ops see only what is wrong.
            foreach (var d in result.Decisions.Where(d => d.RemoveLetter is not null))
                if (await deadLetters.RemoveAsync(cluster, d.RemoveLetter!, ct))
                    log.LogInformation("Removed dead letter {LetterId} of {Model} version {Version} from {Cluster}: that version runs there now",
                        d.RemoveLetter, d.RegisteredModel, d.Version, cluster);
            var known = new KnownStatusTags(result.Registry);
            await tags.WriteAttemptsAsync(cluster, result.Decisions.Where(d => d.StateChanged), known, ct);
            await tags.WriteAsync(cluster, result.StatusTags, known, ct);
            await tags.WritePreflightAsync(cluster, result.Preflight, known, ct);

            if (result.NextLook is { LookAgainAt: { } next } soonest)
                await wakeUps.ScheduleAsync(cluster, next - result.At, new ClusterDeployRequested
                {
                    RoutingKey = PipelineTopology.BroadcastKey,
                    Reason = soonest.Phase == AttemptPhase.WaitingToRetry && next == soonest.State.RetryAt ? WakeUpReason.Retry : WakeUpReason.Check,
                    RegisteredModel = soonest.RegisteredModel, Version = soonest.Version, DeliveryId = deliveryIds.FirstOrDefault(),
                }, ct);

            if (requests.Any(r => r.CensusCluster == cluster)) await census.TakeAsync(result.Registry, ct);

            var activity = new WorkerActivity(cluster, requests, result.Applied, result.Decisions, result.At) { Duration = Stopwatch.GetElapsedTime(started) };
            MLRayTelemetry.Reconciles.Add(1, MLRayTelemetry.Tag("cluster", cluster), MLRayTelemetry.Tag("outcome", result.Applied ? "applied" : "unchanged"));
            MLRayTelemetry.ReconcileDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, MLRayTelemetry.Tag("cluster", cluster));
            _readBegan = result.At;
            journal.Record(activity);
            // One line per reconcile, with what it was asked and what it decided.
            log.LogInformation("Reconciled {Cluster} for {Count} request(s) ({Models}): applied={Applied}, {Decisions}", cluster, requests.Count,
                string.Join(", ", requests.Select(r => r.RegisteredModel ?? r.Reason).Distinct()), result.Applied,
                string.Join(", ", result.Decisions.Select(d => $"{d.RegisteredModel}/{d.Version}={d.Phase}" + (d.ServedVersion is { } v ? $" (v{v} serves)" : ""))));
            return activity;
        }
        finally
        {
            _oneWriter.Release();
        }
    }

    private ModelDeadLettered Letter(AttemptDecision d, IReadOnlyList<string> deliveryIds) => new()
    {
        Id = d.Letter!.Id,
        Cluster = reconciler.Cluster.Name,
        RegisteredModel = d.RegisteredModel,
        Version = d.Version,
        App = d.AppName,
        FailureClass = d.Letter.FailureClass,
        Message = d.Letter.Message,
        Attempts = d.Letter.Attempts,
        FirstFailure = d.Letter.FirstFailure,
        LastFailure = d.Letter.LastFailure,
        DeliveryIds = deliveryIds,
    };
}

/// <summary>A bounded in-memory log of what the workers of this process did.</summary>
public sealed class WorkerJournal
{
    private readonly ConcurrentQueue<WorkerActivity> _entries = new();
    public event Action<WorkerActivity>? Recorded;

    public IReadOnlyList<WorkerActivity> Entries => _entries.ToArray();

    public void Record(WorkerActivity activity)
    {
        _entries.Enqueue(activity);
        while (_entries.Count > 1000) _entries.TryDequeue(out _);
        Recorded?.Invoke(activity);
    }
}

/// <summary>The workers this process runs, by cluster and by queue name.</summary>
public sealed class ClusterWorkers(IEnumerable<ClusterWorker> workers)
{
    private readonly Dictionary<string, ClusterWorker> _byQueue =
        workers.ToDictionary(w => PipelineTopology.ClusterQueue(w.Cluster.Name), StringComparer.Ordinal);

    public ClusterWorker ForQueue(string queue) => _byQueue.TryGetValue(queue, out var w) ? w
        : throw new InvalidOperationException($"this process runs no worker for queue '{queue}'");

    public IEnumerable<ClusterWorker> All => _byQueue.Values;
}
