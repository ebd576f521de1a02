using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Topology;
using MLRay.Telemetry;
using RabbitMQ.Client;

namespace MLRay.Pipeline.Publishing;

/// <summary>How the receiver queues a webhook's hint: returns once the broker has confirmed it, throws otherwise.</summary>
public interface IRegistryChangedPublisher
{
    Task PublishAsync(RegistryChanged message, CancellationToken ct);
}

/// <summary>Through the MassTransit bus: the in-memory transport (the demo) and tests' harnesses.</summary>
public sealed class BusRegistryChangedPublisher(IPublishEndpoint publish) : IRegistryChangedPublisher
{
    public Task PublishAsync(RegistryChanged message, CancellationToken ct) =>
        publish.Publish(message, ctx =>
        {
            if (message.DeliveryId is { } id) ctx.Headers.Set(PipelineTopology.DeliveryIdHeader, id);
        }, ct);
}

/// <summary>
/// The receiver's hot path on RabbitMQ.Client: one connection, one channel with publisher confirms that every request
/// publishes on concurrently, each publish awaited until the broker confirms it, in MassTransit's envelope so the
/// router's consumer reads it unchanged. Profiling the receiver showed MassTransit's publish pipeline, its locks and the
/// garbage it makes costing most of a webhook's CPU; this is what a bare publisher does. Mandatory: a publish no queue
/// takes (the router's queue deleted) is an error, not a silent drop. A lost connection or channel is re-opened by the
/// next publish — on the first node of the list that accepts it, so when a cluster node is lost the publishes in flight on it
/// fail (503, MLflow retries) and the next one goes through a live node — and during a whole broker's outage each webhook fails
/// fast (503) instead of waiting. A broker that
/// lost its definitions answers NOT_FOUND (the exchange is gone): the topology is declared again (<see cref="TopologyRepair"/>)
/// and the message published once more within the request; a returned message (the exchange there, no queue bound) has
/// the topology declared again for MLflow's retry, and is answered 503 like any other publish that failed.
/// </summary>
public sealed class ConfirmedRegistryChangedPublisher(MLRayConfig config, TopologyRepair repair, ILogger<ConfirmedRegistryChangedPublisher> log)
    : IRegistryChangedPublisher, IHostedService, IAsyncDisposable
{
    /// <summary>The header whose W3C trace context MassTransit's consume span continues (its <c>DiagnosticHeaders.ActivityId</c>).</summary>
    public const string TraceContextHeader = MassTransit.Logging.DiagnosticHeaders.ActivityId;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private readonly RabbitMqEndpoint _broker = RabbitMqEndpoint.For(config.Pipeline);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;

    public async Task PublishAsync(RegistryChanged message, CancellationToken ct)
    {
        var repairsBefore = repair.Completed;
        using var activity = MLRayTelemetry.Source.StartActivity($"{PipelineTopology.RegistryChangedExchange} publish", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", PipelineTopology.RegistryChangedExchange);
        activity?.SetTag(MLRayTelemetry.DeliveryIdAttribute, message.DeliveryId);

        var headers = new Dictionary<string, object?>();
        if (message.DeliveryId is { } id) headers[PipelineTopology.DeliveryIdHeader] = id;
        if (Activity.Current?.Id is { } trace) headers[TraceContextHeader] = trace;
        try
        {
            await PublishOnceAsync(message, headers, repairsBefore, ct);
        }
        catch (Exception e) when (TopologyRepair.MissingDefinition(e) is { } missing)
        {
            // No exchange took the message, so publishing it again queues it once (at worst, in a race with an exchange
            // deleted mid-publish, twice: a hint the router reconciles from the registry either way).
            if (!await repair.RepairAsync(repairsBefore, $"publish: {missing}", ct)) throw;
            await PublishOnceAsync(message, headers, repairsBefore, ct);
        }
    }

    private async Task PublishOnceAsync(RegistryChanged message, Dictionary<string, object?> headers, long repairsBefore, CancellationToken ct)
    {
        var channel = await ChannelAsync(ct);
        try
        {
            await MassTransitEnvelope.PublishAsync(channel, _broker, PipelineTopology.RegistryChangedExchange, "", message, headers, ct);
        }
        catch (RabbitMQ.Client.Exceptions.PublishException e) when (e.IsReturn)
        {
            var unbound = $"no queue is bound to {PipelineTopology.RegistryChangedExchange}";
            // The exchange is there but its binding or the router's queue is not (e.g. re-created bare by a MassTransit
            // publish after the broker lost its definitions): declared again, so MLflow's retry of this 503 is queued.
            await repair.RepairAsync(repairsBefore, $"publish returned: {unbound}", ct);
            throw new BrokerException($"{unbound} (the broker returned the message): is the router's queue {PipelineTopology.RegistryChangesQueue} there?", e);
        }
    }

    /// <summary>The open channel, or a new one (and a new connection if that was lost too); one caller re-opens, the others wait.</summary>
    private async ValueTask<IChannel> ChannelAsync(CancellationToken ct)
    {
        if (_channel is { IsOpen: true } open) return open;
        await _gate.WaitAsync(ct);
        try
        {
            if (_channel is { IsOpen: true } reopened) return reopened;
            if (_channel is not null) await DisposeQuietlyAsync(_channel);
            _channel = null;
            if (_connection is not { IsOpen: true })
            {
                if (_connection is not null) await DisposeQuietlyAsync(_connection);
                _connection = null;
                // Re-opened here, on demand: no second recovery loop.
                _connection = await _broker.ConnectAsync("mlray-receiver publisher", ConnectTimeout, ct);
            }
            _channel = await _connection.CreateChannelAsync(RabbitMqEndpoint.ConfirmedPublishes, ct);
            return _channel;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Opens the connection at start-up when the broker is there; if it is not, the first webhook tries again.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        try
        {
            await ChannelAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("Broker {Broker} not reachable at start-up ({Problem}): webhooks are answered 503 until it is", _broker, e.Message);
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null) await DisposeQuietlyAsync(_channel);
        if (_connection is not null) await DisposeQuietlyAsync(_connection);
        _gate.Dispose();
    }

    private static async Task DisposeQuietlyAsync(IAsyncDisposable disposable)
    {
        try { await disposable.DisposeAsync(); }
        catch (Exception) { /* already broken: that is why it is being replaced */ }
    }
}
