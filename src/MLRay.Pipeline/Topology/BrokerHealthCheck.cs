using Microsoft.Extensions.Diagnostics.HealthChecks;
using RabbitMQ.Client;

namespace MLRay.Pipeline.Topology;

/// <summary>
/// Readiness that notices a lost broker within seconds: every check (at most one a second) asks the broker, over a
/// connection of its own, whether MLRay's exchange is still there. A closed connection, a deleted vhost or a missing
/// exchange is unhealthy at the next probe; MassTransit's own bus check only notices once its reconnect loop gives up.
/// </summary>
public sealed class BrokerHealthCheck(MLRayConfig config) : IHealthCheck, IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private (DateTime At, HealthCheckResult Result)? _last;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_last is { } last && DateTime.UtcNow - last.At < CacheFor) return last.Result;
            var result = await ProbeAsync(ct);
            _last = (DateTime.UtcNow, result);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<HealthCheckResult> ProbeAsync(CancellationToken ct)
    {
        var endpoint = RabbitMqEndpoint.Parse(config.Pipeline.RabbitMqUri);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            if (_connection is not { IsOpen: true })
            {
                if (_connection is not null) await _connection.DisposeAsync();
                _connection = null;
                _connection = await endpoint.ConnectAsync("mlray-readiness", Timeout, timeout.Token);
            }
            await using var channel = await _connection.CreateChannelAsync(cancellationToken: timeout.Token);
            await channel.ExchangeDeclarePassiveAsync(PipelineTopology.RegistryChangedExchange, timeout.Token);
            return HealthCheckResult.Healthy($"broker {endpoint} answers");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"broker {endpoint}: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
