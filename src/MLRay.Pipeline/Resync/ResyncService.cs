using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Routing;
using MLRay.Registry;

namespace MLRay.Pipeline.Resync;

/// <summary>
/// At start-up and every <c>receiver.resync_interval</c>: one RegistryChanged per selected model, and one sweep
/// request to every cluster. It is what catches lost webhooks (MLflow's delivery is in-memory and lossy), deleted
/// versions, removed aliases and renamed models, for which MLflow sends no event at all.
/// </summary>
public sealed class ResyncService(MlflowClient mlflow, MLRayConfig config, IPublishEndpoint publish, IClusterDispatcher dispatcher,
    ILogger<ResyncService> log) : BackgroundService
{
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var models = await mlflow.SearchRegisteredModelsBySuffixAsync(config.Mlflow.ModelNameSuffix, ct);
        foreach (var model in models.Where(m => !m.IsPrompt))
            await publish.Publish(new RegistryChanged { RegisteredModel = model.Name, Reason = "resync" }, ct);
        await dispatcher.DispatchAsync(new ClusterDeployRequested { RoutingKey = PipelineTopology.BroadcastKey, Reason = "resync" }, ct);
        log.LogInformation("Resync announced {Count} model(s) and swept every cluster", models.Count);
        return models.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(TimeSpan.FromMinutes(1));
                await RunOnceAsync(timeout.Token);
                await Task.Delay(config.Pipeline.ResyncInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Broker or MLflow down: try again soon rather than waiting a whole interval.
                log.LogWarning("Resync failed ({Error}); retrying in 5 s", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ContinueWith(_ => { });
            }
        }
    }
}
