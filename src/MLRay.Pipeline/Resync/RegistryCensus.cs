using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Routing;

namespace MLRay.Pipeline.Resync;

/// <summary>
/// The resync's routing census, taken by one worker from the registry its sweep reconcile read anyway (every selected
/// model with its Python): <c>mlray.unroutable</c> is made to hold exactly the models no cluster takes, each once, with
/// its reason. It costs no MLflow request of its own, whatever the registry's size.
/// </summary>
public sealed class RegistryCensus(IUnroutableModels parked, MLRayConfig config, ILogger<RegistryCensus> log)
{
    public async Task TakeAsync(RegistrySnapshot registry, CancellationToken ct)
    {
        var unroutable = Unroutable(registry, config);
        try
        {
            var (newlyParked, released) = await parked.MatchAsync(unroutable, ct);
            log.LogInformation("Routing census of {Models} model(s): {Unroutable} no cluster takes ({Parked} newly parked), {Released} parked message(s) released",
                registry.Models.Count, unroutable.Count, newlyParked, released);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && (TransientErrors.Is(e) || e is BrokerException))
        {
            // The deploys are done; the parking lot is only tidied at the next resync.
            log.LogWarning("Routing census of {Models} model(s) not applied to {Queue} ({Error}); the next resync tries again",
                registry.Models.Count, PipelineTopology.UnroutableQueue, e.Message);
        }
    }

    /// <summary>Pure: the models of <paramref name="registry"/> that the router would park, as it would park them.</summary>
    public static IReadOnlyList<ModelUnroutable> Unroutable(RegistrySnapshot registry, MLRayConfig config) =>
        [.. registry.Models.Select(c => (Candidate: c, Decision: RegistryChangedConsumer.Route(c, config)))
            .Where(x => x.Decision is RouteDecision.Unroutable)
            .Select(x => RegistryChangedConsumer.Parked(x.Candidate, x.Candidate.RegisteredModel, ((RouteDecision.Unroutable)x.Decision).Reason, null))];
}
