using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Status;

namespace MLRay.Pipeline.Workers;

/// <summary>What a worker did, for metrics, logs and tests.</summary>
public sealed record WorkerActivity(string Cluster, IReadOnlyList<ClusterDeployRequested> Requests, bool Applied, bool Succeeded, DateTimeOffset At);

/// <summary>
/// Reconciles one cluster: the whole desired state from the registry, foreign apps kept, PUT only on change,
/// wait for RUNNING / DEPLOY_FAILED under the deadline, then status tags on the model versions.
/// One at a time per cluster in this process; across processes the queue's single active consumer ensures it.
/// </summary>
public sealed class ClusterWorker(RayClusterConfig cluster, ClusterDeployer deployer, StatusTagWriter tags, WorkerJournal journal,
    TimeProvider time, ILogger<ClusterWorker> log)
{
    private readonly SemaphoreSlim _oneWriter = new(1, 1);

    public RayClusterConfig Cluster => cluster;

    public async Task<DeployReport> ReconcileAsync(IReadOnlyList<ClusterDeployRequested> requests, CancellationToken ct)
    {
        await _oneWriter.WaitAsync(ct);
        try
        {
            using var scope = log.BeginScope(new Dictionary<string, object?>
            {
                ["Cluster"] = cluster.Name,
                ["DeliveryIds"] = requests.Select(r => r.DeliveryId).OfType<string>().Distinct().ToArray(),
            });
            log.LogInformation("Reconciling {Cluster} for {Count} request(s): {Models}", cluster.Name, requests.Count,
                string.Join(", ", requests.Select(r => r.RegisteredModel ?? r.Reason).Distinct()));
            KnownStatusTags? known = null; // from this reconcile's own registry read: no re-read per tag
            var report = await deployer.DeployAsync(new DeployOptions
            {
                Wait = true,
                OnApplied = (planned, token) => tags.WriteAsync(cluster.Name, StatusTags.Deploying(planned.Desired, planned.Plan),
                    known = new KnownStatusTags(planned.Registry), token),
            }, ct: ct);
            await tags.WriteAsync(cluster.Name, StatusTags.FromReport(report), known ?? new KnownStatusTags(report.Registry), ct);
            journal.Record(new WorkerActivity(cluster.Name, requests, report.Applied, report.Succeeded, time.GetUtcNow()));
            log.LogInformation("Reconciled {Cluster}: applied={Applied}, apps={Apps}", cluster.Name, report.Applied,
                string.Join(", ", report.Apps.Select(a => $"{a.App}={a.RayStatus}")));
            return report;
        }
        finally
        {
            _oneWriter.Release();
        }
    }
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
