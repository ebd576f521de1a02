using Microsoft.Extensions.Diagnostics.HealthChecks;
using RabbitMQ.Client;

namespace MLRay.Pipeline.Topology;

/// <summary>
/// Readiness that notices a lost broker within seconds: every check (at most one a second) asks the broker, over a
/// connection of its own, whether what a webhook needs is still there: MLRay's exchange and the router's queue. A closed
/// connection, a deleted vhost, a missing exchange or queue is unhealthy at the next probe; MassTransit's own bus check only
/// notices once its reconnect loop gives up. A probe that finds the broker up but the exchange or queue gone (NOT_FOUND) has
/// the topology declared again (<see cref="TopologyRepair"/>), then probes once more: in the receiver and in every worker,
/// so the bindings come back whichever process notices first.
/// </summary>
public sealed class BrokerHealthCheck(MLRayConfig config, TopologyRepair repair) : IHealthCheck, IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(1);
    private readonly RabbitMqEndpoint _broker = RabbitMqEndpoint.For(config.Pipeline);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private (DateTime At, HealthCheckResult Result)? _last;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_last is { } last && DateTime.UtcNow - last.At < CacheFor) return last.Result;
            var repairsBefore = repair.Completed;
            var (result, error) = await ProbeAsync(ct);
            if (error is not null && TopologyRepair.MissingDefinition(error) is { } missing
                && await repair.RepairAsync(repairsBefore, $"readiness probe: {missing}", ct))
                (result, _) = await ProbeAsync(ct);
            _last = (DateTime.UtcNow, result);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<(HealthCheckResult Result, Exception? Error)> ProbeAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            if (_connection is not { IsOpen: true })
            {
                if (_connection is not null) await _connection.DisposeAsync();
                _connection = null;
                _connection = await _broker.ConnectAsync("mlray-readiness", Timeout, timeout.Token);
            }
            await using var channel = await _connection.CreateChannelAsync(cancellationToken: timeout.Token);
            await channel.ExchangeDeclarePassiveAsync(PipelineTopology.RegistryChangedExchange, timeout.Token);
            await channel.QueueDeclarePassiveAsync(PipelineTopology.RegistryChangesQueue, timeout.Token);
            return (HealthCheckResult.Healthy($"broker {_broker} answers"), null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return (HealthCheckResult.Unhealthy($"broker {_broker}: {e.Message}"), e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
