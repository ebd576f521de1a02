using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MLRay.Receiver.Webhooks;
using Prometheus;

namespace MLRay.Receiver.Health;

public static class HealthEndpointExtensions
{
    /// <summary>The health-check service; MassTransit adds its bus check (tagged <c>ready</c>) to it.</summary>
    public static IServiceCollection AddReceiverHealth(this IServiceCollection services)
    {
        services.AddHealthChecks();
        return services;
    }

    /// <summary>
    /// <c>GET /healthz</c>: 200 while the process serves HTTP (liveness; runs no checks).
    /// <c>GET /readyz</c>: 200 only when every check tagged <c>ready</c> (the broker probe and MassTransit's bus) is healthy, else 503; the JSON body
    /// gives the status and the webhook signature mode.
    /// <c>GET /metrics</c>: Prometheus text, from the registry <see cref="WebhookMetrics"/> uses.
    /// </summary>
    public static IEndpointRouteBuilder MapReceiverHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        endpoints.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(MLRay.Telemetry.HealthTags.Ready),
            // Says which signature mode runs, so a receiver accepting unsigned webhooks is visible from outside.
            ResponseWriter = (http, report) => http.Response.WriteAsJsonAsync(new
            {
                status = report.Status.ToString(),
                webhook_signatures = http.RequestServices.GetRequiredService<IOptions<MLflowWebhookOptions>>().Value.SignatureMode,
                checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
            }),
        });
        endpoints.MapMetrics("/metrics", endpoints.ServiceProvider.GetRequiredService<WebhookMetrics>().Registry);
        return endpoints;
    }
}
