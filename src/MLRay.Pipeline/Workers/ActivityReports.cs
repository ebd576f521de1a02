using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Workers;

/// <summary>
/// Reports each reconcile this process's workers run (<see cref="WorkerJournal.Recorded"/>) as a <see cref="ReconcileReported"/>
/// on the bus, without waiting for it: a report that cannot be published is lost, and the reconcile goes on regardless.
/// </summary>
public sealed class ActivityReporter(WorkerJournal journal, IPublishEndpoint publish, ILogger<ActivityReporter> log) : IHostedService
{
    public Task StartAsync(CancellationToken ct)
    {
        journal.Recorded += Report;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct)
    {
        journal.Recorded -= Report;
        return Task.CompletedTask;
    }

    public static ReconcileReported ToReport(WorkerActivity activity) => new()
    {
        Cluster = activity.Cluster, At = activity.At, DurationSeconds = activity.Duration.TotalSeconds, Applied = activity.Applied,
        Triggers = [.. activity.Requests.Select(r => r.RegisteredModel is { } model ? $"{r.Reason} {model}" : r.Reason).Distinct()],
        Decisions = [.. activity.Decisions.Select(d => $"{d.RegisteredModel}/{d.Version}={d.Phase}")],
    };

    private void Report(WorkerActivity activity)
    {
        if (!activity.Reconciled) return;   // coalesced: acked without a reconcile
        _ = Task.Run(async () =>
        {
            try
            {
                await publish.Publish(ToReport(activity));
            }
            catch (Exception e)
            {
                log.LogDebug("Reconcile report of {Cluster} not published: {Error}", activity.Cluster, e.Message);
            }
        });
    }
}

/// <summary>
/// The last <see cref="PerCluster"/> reconciles of each cluster as the workers reported them, newest first: in this receiver's
/// memory only (a restarted receiver starts empty; every receiver hears every report).
/// </summary>
public sealed class ActivityLog
{
    public const int PerCluster = 50;

    private readonly ConcurrentDictionary<string, ConcurrentQueue<ReconcileReported>> _byCluster = new(StringComparer.Ordinal);

    /// <summary>Raised after each report is kept: something on a cluster may have changed (the console's live feed reads then).</summary>
    public event Action<ReconcileReported>? Added;

    public void Add(ReconcileReported report)
    {
        var queue = _byCluster.GetOrAdd(report.Cluster, _ => new ConcurrentQueue<ReconcileReported>());
        queue.Enqueue(report);
        while (queue.Count > PerCluster) queue.TryDequeue(out _);
        Added?.Invoke(report);
    }

    public IReadOnlyList<ReconcileReported> Of(string cluster) =>
        _byCluster.TryGetValue(cluster, out var queue) ? [.. queue.Reverse()] : [];
}

public sealed class ReconcileReportedConsumer(ActivityLog activity) : IConsumer<ReconcileReported>
{
    public Task Consume(ConsumeContext<ReconcileReported> context)
    {
        activity.Add(context.Message);
        return Task.CompletedTask;
    }
}
