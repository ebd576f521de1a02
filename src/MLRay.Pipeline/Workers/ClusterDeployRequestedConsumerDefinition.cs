using MassTransit;

namespace MLRay.Pipeline.Workers;

/// <summary>
/// A cluster worker's consumption: batches of up to 100 requests gathered for 200 ms, one batch at a time (one writer).
/// Transient failures are handed to the broker by the consumer itself; this in-process retry only covers a blip while
/// doing that (and bugs), before <c>&lt;queue&gt;_error</c>.
/// </summary>
public sealed class ClusterDeployRequestedConsumerDefinition : ConsumerDefinition<ClusterDeployRequestedConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<ClusterDeployRequestedConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(r => r.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)));
        consumer.Options<BatchOptions>(o => o.SetMessageLimit(100).SetTimeLimit(TimeSpan.FromMilliseconds(200)).SetConcurrencyLimit(1));
    }
}
