using MassTransit;

namespace MLRay.Pipeline.Routing;

/// <summary>
/// The router's retry: short, exponential, in process (it holds the message unacked while it waits). What still fails
/// lands in <c>mlray.registry-changes_error</c>; a model it cannot route is parked in <c>mlray.unroutable</c> instead.
/// </summary>
public sealed class RegistryChangedConsumerDefinition : ConsumerDefinition<RegistryChangedConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<RegistryChangedConsumer> consumer,
        IRegistrationContext context) =>
        endpoint.UseMessageRetry(r => r.Exponential(5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500)));
}
