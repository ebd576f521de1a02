using MassTransit;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Telemetry;

namespace MLRay.Pipeline.Routing;

/// <summary>
/// The router: stateless, competing consumers. Re-reads the registry (the message is only a hint), resolves the
/// version and its Python (cached per name+version by <see cref="RegistryReader"/>), and sends a deploy request
/// keyed by that Python version. No cluster for the Python, or an unreadable environment → parked with the reason.
/// Nothing to serve any more (model gone, alias removed, disabled), or MLflow unreachable → every cluster is told to look.
/// </summary>
public sealed class RegistryChangedConsumer(RegistryReader registry, IClusterDispatcher dispatcher, MLRayConfig config,
    ILogger<RegistryChangedConsumer> log) : IConsumer<RegistryChanged>
{
    public async Task Consume(ConsumeContext<RegistryChanged> context)
    {
        var hint = context.Message;
        var ct = context.CancellationToken;
        using var scope = log.BeginScope(new Dictionary<string, object?> { ["DeliveryId"] = hint.DeliveryId, ["RegisteredModel"] = hint.RegisteredModel });

        using var span = MLRayTelemetry.Source.StartActivity($"route {hint.RegisteredModel}");
        span?.SetTag(MLRayTelemetry.DeliveryIdAttribute, hint.DeliveryId);
        ModelCandidate? candidate = null;
        RouteDecision decision;
        try
        {
            candidate = await registry.ReadAsync(hint.RegisteredModel, ct);
            decision = Route(candidate, config);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && TransientErrors.Is(e))
        {
            // MLflow is away (its client has already retried): rather than hold the hint until the router's retries run out
            // and it lands in the error queue — lost until the next resync — every cluster is told to look. Their workers
            // reconcile from the whole registry and keep trying, with backoff held in the broker, until MLflow answers.
            log.LogWarning("Routing {Model} ({Reason}): the registry could not be read ({Error})", hint.RegisteredModel, hint.Reason, e.Message);
            decision = new RouteDecision.ToClusters(PipelineTopology.BroadcastKey, "registry unreadable: every cluster looks");
        }
        MLRayTelemetry.RoutingDecisions.Add(1, MLRayTelemetry.Tag("decision", decision switch
        {
            RouteDecision.ToClusters { RoutingKey: PipelineTopology.BroadcastKey } => "all",
            RouteDecision.ToClusters => "python",
            _ => "unroutable",
        }));
        log.LogInformation("Routing {Model} ({Reason}): {Decision}", hint.RegisteredModel, hint.Reason, decision);
        switch (decision)
        {
            case RouteDecision.ToClusters to:
                await dispatcher.DispatchAsync(new ClusterDeployRequested
                {
                    RoutingKey = to.RoutingKey,
                    RegisteredModel = hint.RegisteredModel,
                    Version = candidate?.Version?.Version,
                    Reason = hint.Reason,
                    DeliveryId = hint.DeliveryId,
                    QueuedAt = hint.QueuedAt,
                }, ct);
                break;
            case RouteDecision.Unroutable parked:
                await dispatcher.ParkAsync(Parked(candidate, hint.RegisteredModel, parked.Reason, hint.DeliveryId), ct);
                break;
        }
    }

    /// <summary>A model parked in <c>mlray.unroutable</c>, by the router and by the resync's census alike.</summary>
    public static ModelUnroutable Parked(ModelCandidate? candidate, string registeredModel, string reason, string? deliveryId) => new()
    {
        RegisteredModel = registeredModel,
        Version = candidate?.Version?.Version,
        Python = candidate?.Environment?.Python.ToString(),
        Reason = reason,
        DeliveryId = deliveryId,
    };

    /// <summary>Pure routing rule, shared with tests.</summary>
    public static RouteDecision Route(ModelCandidate candidate, MLRayConfig config)
    {
        if (candidate.NothingToServe || candidate.Tags is { Disabled: true })
            return new RouteDecision.ToClusters(PipelineTopology.BroadcastKey, "nothing to serve: every cluster removes its app");
        if (candidate.Problem is not null || candidate.Environment is null)
            return new RouteDecision.Unroutable(candidate.Problem ?? "the model's environment could not be read");
        var python = candidate.Environment.Python;
        if (!config.Clusters.Any(c => c.PythonVersion.Accepts(python)))
            return new RouteDecision.Unroutable(
                $"no Ray cluster for Python {python} (model '{candidate.RegisteredModel}' version {candidate.Version?.Version}); " +
                $"clusters: {string.Join(", ", config.Clusters.Select(c => $"{c.Name}={c.PythonVersion}"))}");
        return new RouteDecision.ToClusters(PipelineTopology.RoutingKey(python), $"Python {python}");
    }
}

public abstract record RouteDecision
{
    public sealed record ToClusters(string RoutingKey, string Why) : RouteDecision;
    public sealed record Unroutable(string Reason) : RouteDecision;
}
