using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MLRay.Pipeline.Publishing;

namespace MLRay.Receiver.Webhooks;

public static class WebhookEndpointExtensions
{
    public const string Route = "/webhooks/mlflow";

    /// <summary>
    /// The webhook endpoint's services, configured from <paramref name="config"/> and validated at start-up.
    /// Needs the bus (<see cref="MassTransit.IPublishEndpoint"/>) or an <see cref="IRegistryChangedPublisher"/> registered separately.
    /// </summary>
    public static IServiceCollection AddMLflowWebhooks(this IServiceCollection services, MLRayConfig config)
    {
        services.AddOptions<MLflowWebhookOptions>()
            .Configure(o =>
            {
                o.ModelNameSuffix = config.Mlflow.ModelNameSuffix;
                o.Secret = config.Pipeline.WebhookSecret;
                o.DedupWindow = config.Pipeline.DedupWindow;
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MLflowWebhookOptions>, MLflowWebhookOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<WebhookMetrics>();
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<MLflowWebhookOptions>>().Value;
            return new PublishedDeliveries(sp.GetRequiredService<TimeProvider>(), o.DedupWindow, o.MaxRememberedDeliveries);
        });
        services.TryAddSingleton<MLflowWebhookHandler>();
        // Through the bus unless the pipeline registers the confirmed RabbitMQ.Client publisher (AddMLRayBus on RabbitMQ).
        services.TryAddScoped<IRegistryChangedPublisher, BusRegistryChangedPublisher>();
        return services;
    }

    /// <summary>Maps <c>POST /webhooks/mlflow</c>. The body is read raw (no model binding) so the signature covers the exact bytes.</summary>
    public static IEndpointConventionBuilder MapMLflowWebhooks(this IEndpointRouteBuilder endpoints)
    {
        endpoints.ServiceProvider.GetRequiredService<WebhookMetrics>(); // its counters exist (at 0) before the first webhook
        return endpoints.MapPost(Route, (HttpContext http, MLflowWebhookHandler handler) => handler.HandleAsync(http))
            .WithName("MLflowWebhook");
    }
}
