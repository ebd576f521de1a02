using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Status;
using MLRay.Serve;
using MLRay.Telemetry;
using System.Diagnostics;

namespace MLRay.Pipeline.Workers;

/// <summary>What a worker did, for metrics, logs and tests.</summary>
public sealed record WorkerActivity(string Cluster, IReadOnlyList<ClusterDeployRequested> Requests, bool Applied, IReadOnlyList<AttemptDecision> Decisions, DateTimeOffset At)
{
    /// <summary>Every version it decided on runs.</summary>
    public bool Succeeded => Decisions.All(d => d.Phase == AttemptPhase.Running);
}

/// <summary>
/// Reconciles one cluster, level-triggered and without waiting: the whole desired state from the registry, failure
/// handling (<see cref="AttemptPolicy"/>: attempts, rollback, dead letters), foreign apps kept, PUT only on change,
/// status and attempt tags, then a wake-up through the broker while an install is in flight or a retry is due. The
/// message is acked as soon as Ray accepted the PUT, so one slow install never holds up the cluster's other models.
/// One at a time per cluster in this process; across processes the queue's single active consumer ensures it.
/// </summary>
public sealed class ClusterWorker(RayClusterConfig cluster, ClusterDeployer deployer, StatusTagWriter tags, WorkerJournal journal,
    IWakeUps wakeUps, IDeadLetters deadLetters, TimeProvider time, ILogger<ClusterWorker> log)
{
    private readonly SemaphoreSlim _oneWriter = new(1, 1);
    private volatile bool _handingOver;
    private int _leftForSuccessor;

    public RayClusterConfig Cluster => cluster;

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
        await _oneWriter.WaitAsync(ct);
        try
        {
            if (_handingOver)
            {
                Interlocked.Add(ref _leftForSuccessor, requests.Count);
                log.LogInformation("Stopping: {Count} request(s) for {Cluster} left to the worker that takes over", requests.Count, cluster.Name);
                return new WorkerActivity(cluster.Name, requests, false, [], time.GetUtcNow());
            }
            var deliveryIds = requests.Select(r => r.DeliveryId).OfType<string>().Distinct().ToArray();
            using var span = MLRayTelemetry.Source.StartActivity($"reconcile {cluster.Name}");
            span?.SetTag(MLRayTelemetry.ClusterAttribute, cluster.Name);
            span?.SetTag(MLRayTelemetry.DeliveryIdAttribute, string.Join(",", deliveryIds));
            var started = Stopwatch.GetTimestamp();
            using var scope = log.BeginScope(new Dictionary<string, object?> { ["Cluster"] = cluster.Name, ["DeliveryIds"] = deliveryIds });
            log.LogInformation("Reconciling {Cluster} for {Count} request(s): {Models}", cluster.Name, requests.Count,
                string.Join(", ", requests.Select(r => r.RegisteredModel ?? r.Reason).Distinct()));

            var now = time.GetUtcNow();
            var (snapshot, current) = await deployer.ReadAsync(ct);
            // The wheel pre-flight first: with preflight: block, what pip would refuse is invalid (permanent, no PUT) from here on.
            var (desired, preflight) = await deployer.PreflightAsync(DesiredState.For(cluster, snapshot.Models, current), ct);
            var facts = await FactsAsync(desired, snapshot, ct);
            var replays = requests.Select(r => r.ReplayOf).OfType<string>().ToHashSet(StringComparer.Ordinal);
            var attempts = AttemptPolicy.Plan(desired, facts, current, now, replays, () => Guid.NewGuid().ToString("N"));
            var plan = ServeConfigPlanner.Plan(attempts.Applications, current, attempts.KeepAsIs);
            if (plan.NeedsPut)
            {
                await deployer.Ray.PutApplicationsAsync(plan.Config, ct);
                MLRayTelemetry.Puts.Add(1, MLRayTelemetry.Tag("cluster", cluster.Name));
            }
            MLRayTelemetry.RecordApps(cluster.Name, current.Applications.Values.Select(a => a.Status));

            // Letters before tags: a letter is the durable record; a tag naming a letter that was never written would lie.
            foreach (var d in attempts.Decisions.Where(d => d.Letter is not null))
            {
                await deadLetters.PublishAsync(Letter(d, deliveryIds), ct);
                MLRayTelemetry.DeadLetters.Add(1, MLRayTelemetry.Tag("cluster", cluster.Name), MLRayTelemetry.Tag("class", d.Letter!.FailureClass));
            }
            foreach (var _ in attempts.Decisions.Where(d => d is { Phase: AttemptPhase.Deploying, StateChanged: true, State.Attempts: > 1 }))
                MLRayTelemetry.Retries.Add(1, MLRayTelemetry.Tag("cluster", cluster.Name), MLRayTelemetry.Tag("class", "install"));
            // A letter of a version that now runs is stale (its tags were fixed since): out of the queue, so ops see only what is wrong.
            foreach (var d in attempts.Decisions.Where(d => d.RemoveLetter is not null))
                if (await deadLetters.RemoveAsync(cluster.Name, d.RemoveLetter!, ct))
                    log.LogInformation("Removed dead letter {LetterId} of {Model} version {Version} from {Cluster}: that version runs there now",
                        d.RemoveLetter, d.RegisteredModel, d.Version, cluster.Name);
            var known = new KnownStatusTags(snapshot);
            await tags.WriteAttemptsAsync(cluster.Name, attempts.Decisions.Where(d => d.StateChanged), known, ct);
            await tags.WriteAsync(cluster.Name, StatusTags.FromAttempts(desired, attempts, plan, snapshot), known, ct);
            await tags.WritePreflightAsync(cluster.Name, preflight, known, ct);

            if (attempts.Decisions.Where(d => d.LookAgainAt is not null).MinBy(d => d.LookAgainAt) is { LookAgainAt: { } next } soonest)
                await wakeUps.ScheduleAsync(cluster.Name, next - now, new ClusterDeployRequested
                {
                    RoutingKey = PipelineTopology.BroadcastKey,
                    Reason = soonest.Phase == AttemptPhase.WaitingToRetry ? WakeUpReason.Retry : WakeUpReason.Check,
                    RegisteredModel = soonest.RegisteredModel, Version = soonest.Version, DeliveryId = deliveryIds.FirstOrDefault(),
                }, ct);

            var activity = new WorkerActivity(cluster.Name, requests, plan.NeedsPut, attempts.Decisions, now);
            MLRayTelemetry.Reconciles.Add(1, MLRayTelemetry.Tag("cluster", cluster.Name), MLRayTelemetry.Tag("outcome", plan.NeedsPut ? "applied" : "unchanged"));
            MLRayTelemetry.ReconcileDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, MLRayTelemetry.Tag("cluster", cluster.Name));
            journal.Record(activity);
            log.LogInformation("Reconciled {Cluster}: applied={Applied}, {Decisions}", cluster.Name, plan.NeedsPut,
                string.Join(", ", attempts.Decisions.Select(d => $"{d.RegisteredModel}/{d.Version}={d.Phase}")));
            return activity;
        }
        finally
        {
            _oneWriter.Release();
        }
    }

    /// <summary>For each selected or invalid version: its attempt state, and the app of the model's last version that ran here.</summary>
    private async Task<IReadOnlyList<AttemptPolicy.ModelFacts>> FactsAsync(DesiredState desired, RegistrySnapshot snapshot, CancellationToken ct)
    {
        var facts = new List<AttemptPolicy.ModelFacts>();
        var candidates = snapshot.Models.ToDictionary(c => c.RegisteredModel, StringComparer.Ordinal);
        foreach (var m in desired.Models.Where(m => m.Kind is ModelOutcomeKind.Selected or ModelOutcomeKind.Invalid && m.Version is not null))
        {
            var candidate = candidates[m.RegisteredModel];
            var model = snapshot.RegisteredModels.GetValueOrDefault(m.RegisteredModel);
            var effective = DeploymentTags.Effective(model?.TagMap ?? new Dictionary<string, string>(), candidate.Version?.TagMap ?? new Dictionary<string, string>());
            var state = AttemptState.Parse(snapshot.TagsOf(m.RegisteredModel, m.Version!)?.GetValueOrDefault(StatusTags.Key(cluster.Name, AttemptPolicy.AttemptField)));
            facts.Add(new AttemptPolicy.ModelFacts(m.RegisteredModel, m.Version!, AttemptState.SpecOf(effective), state,
                m.Kind == ModelOutcomeKind.Selected && model is not null ? await LastGoodAsync(model, m.Version!, snapshot, ct) : null));
        }
        return facts;
    }

    /// <summary>The highest other version whose tags say it runs on this cluster, rebuilt as an app (rollback target).</summary>
    private async Task<(string Version, JsonObject App)?> LastGoodAsync(Registry.RegisteredModel model, string version, RegistrySnapshot snapshot, CancellationToken ct)
    {
        var running = snapshot.VersionsOf(model.Name)
            .Where(v => v.Version != version && v.TagMap.GetValueOrDefault(StatusTags.Key(cluster.Name, AttemptPolicy.StatusField)) == DeployStatus.Running)
            .MaxBy(v => v.Number);
        if (running is null) return null;
        var candidate = await deployer.Registry.CandidateAsync(model, running, ct);
        var built = DesiredState.For(cluster, [candidate]);
        return built.Applications.FirstOrDefault() is { } app ? (running.Version, app) : null;
    }

    private ModelDeadLettered Letter(AttemptDecision d, IReadOnlyList<string> deliveryIds) => new()
    {
        Id = d.Letter!.Id,
        Cluster = cluster.Name,
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
