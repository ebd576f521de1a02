using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Resync;

/// <summary>
/// The receiver's resync timer: at start-up and every <c>receiver.resync_interval</c> it asks for a resync on
/// <c>mlray.resync</c>. It does no registry work itself: the active router runs the resync (<see cref="ResyncRequestedConsumer"/>),
/// at most once per interval however many receivers tick. The resync is what catches lost webhooks (MLflow's delivery is
/// in-memory and lossy), deleted versions, removed aliases and renamed models, for which MLflow sends no event at all.
/// </summary>
public sealed class ResyncService(IPublishEndpoint publish, MLRayConfig config, TimeProvider time, ILogger<ResyncService> log, IHostApplicationLifetime lifetime)
    : BackgroundService
{
    private static readonly string Requester = $"{System.Environment.MachineName}/{System.Environment.ProcessId}";

    /// <summary>Asks for a resync; <paramref name="now"/> runs it even if one ran within the interval.</summary>
    public Task RequestAsync(bool now, CancellationToken ct) =>
        publish.Publish(new ResyncRequested { RequestedAt = time.GetUtcNow(), Requester = Requester, Now = now }, ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not before the host has started: a receiver whose address is taken stops during start-up, and must ask for nothing.
        if (!await Started(stoppingToken)) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(TimeSpan.FromMinutes(1));
                await RequestAsync(now: false, timeout.Token);
                await Task.Delay(config.Pipeline.ResyncInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Broker down: ask again soon rather than waiting a whole interval.
                log.LogWarning("Could not ask for a resync ({Error}); asking again in 5 s", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ContinueWith(_ => { });
            }
        }
    }

    private async Task<bool> Started(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var onStopping = stoppingToken.Register(() => started.TrySetCanceled());
        try { await started.Task; return true; }
        catch (OperationCanceledException) { return false; }
    }
}
