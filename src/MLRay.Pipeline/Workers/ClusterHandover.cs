using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Publishing;
using MLRay.Pipeline.Topology;

namespace MLRay.Pipeline.Workers;

/// <summary>
/// A graceful stop hands each cluster over instead of racing the standby (one writer per cluster). MassTransit's stop
/// cancels the consumer first — the broker's single active consumer moves to a standby at once — and only then waits for
/// the batches this process already holds. So before the bus stops, the workers stop reconciling (the reconcile in
/// progress finishes; requests consumed later are acked without one); after the bus stopped, if any were, one request
/// per such cluster goes to its queue, confirmed by the broker, and the worker active now reconciles what they asked for.
/// </summary>
public sealed class ClusterHandover(ClusterWorkers workers, MLRayConfig config, ILogger<ClusterHandover> log) : IHostedLifecycleService
{
    public const string Reason = "handover";

    public Task StoppingAsync(CancellationToken ct) => Task.WhenAll(workers.All.Select(w => w.StopReconcilingAsync(ct)));

    public async Task StoppedAsync(CancellationToken ct)
    {
        var left = workers.All.Where(w => w.LeftForSuccessor > 0).ToList();
        if (left.Count == 0) return;
        var broker = RabbitMqEndpoint.For(config.Pipeline);
        try
        {
            await using var connection = await broker.ConnectAsync("mlray-worker handover", TimeSpan.FromSeconds(5), ct);
            await using var channel = await connection.CreateChannelAsync(RabbitMqEndpoint.ConfirmedPublishes, ct);
            foreach (var worker in left)
            {
                var queue = PipelineTopology.ClusterQueue(worker.Cluster.Name);
                await ClusterQueueSender.PublishAsync(channel, broker, worker.Cluster.Name, new ClusterDeployRequested { RoutingKey = queue, Reason = Reason }, ct);
                log.LogInformation("Handed {Cluster} over: {Count} request(s) this worker did not reconcile are now one request in {Queue}",
                    worker.Cluster.Name, worker.LeftForSuccessor, queue);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogError("Could not hand over {Clusters} ({Problem}): the next webhook or resync reconciles them",
                string.Join(", ", left.Select(w => w.Cluster.Name)), e.Message);
        }
    }

    public Task StartingAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
