using MassTransit;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Telemetry;

namespace MLRay.Pipeline.Workers;

/// <summary>
/// Consumes a cluster's queue in batches: every request pending when the worker is free is coalesced into one
/// reconcile of the whole cluster (level-triggered: the requests only say "look"). A transient failure (MLflow, S3 or
/// Ray unreachable, 5xx, 429) is not held in the process: the batch is acked and a wake-up waits in the broker with
/// backoff (1 s, 2 s, 5 s, 10 s, then every 30 s, with jitter), so it survives a restart and is never dead-lettered.
/// </summary>
public sealed class ClusterDeployRequestedConsumer(ClusterWorkers workers, IWakeUps wakeUps, ILogger<ClusterDeployRequestedConsumer> log)
    : IConsumer<Batch<ClusterDeployRequested>>
{
    public async Task Consume(ConsumeContext<Batch<ClusterDeployRequested>> context)
    {
        var queue = context.ReceiveContext.InputAddress.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).Last();
        var requests = context.Message.Select(m => m.Message).ToList();
        var worker = workers.ForQueue(queue);
        try
        {
            await worker.ReconcileAsync(requests, context.CancellationToken);
        }
        catch (Exception e) when (!context.CancellationToken.IsCancellationRequested && TransientErrors.Is(e))
        {
            var failures = requests.Max(r => r.TransientFailures) + 1;
            MLRayTelemetry.Reconciles.Add(1, MLRayTelemetry.Tag("cluster", worker.Cluster.Name), MLRayTelemetry.Tag("outcome", "transient_error"));
            MLRayTelemetry.Retries.Add(1, MLRayTelemetry.Tag("cluster", worker.Cluster.Name), MLRayTelemetry.Tag("class", "transient"));
            var delay = WaitLevels.TransientBackoff(failures);
            log.LogWarning("Reconcile of {Cluster} failed transiently ({Error}); trying again in {Delay:0.0} s (failure {Failures} in a row)",
                worker.Cluster.Name, e.Message, delay.TotalSeconds, failures);
            // Replays ride along, so a replay that met an outage still happens.
            foreach (var replay in requests.Where(r => r.ReplayOf is not null || r.RolloutCommand is not null).Append(requests[0]).Distinct())
                await wakeUps.ScheduleAsync(worker.Cluster.Name, delay, replay with { TransientFailures = failures, Reason = WakeUpReason.Transient }, context.CancellationToken);
        }
    }
}
