using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using MLRay.Telemetry;

namespace MLRay.ServiceDefaults;

/// <summary>The probes and the scrape endpoint every MLRay service host serves, set up the same way in each.</summary>
public static class HealthEndpointExtensions
{
    /// <summary>
    /// The health-check service (the pipeline adds its broker probe and MassTransit its bus check, both tagged ready) and
    /// the metrics (<see cref="MLRayMetrics"/>).
    /// </summary>
    public static IServiceCollection AddMLRayHealth(this IServiceCollection services)
    {
        services.AddHealthChecks();
        services.AddMLRayMetrics();
        return services;
    }

    /// <summary>
    /// <c>GET /healthz</c>: 200 while the process serves HTTP (liveness; runs no checks).
    /// <c>GET /readyz</c>: 200 only when every check tagged <c>ready</c> (the broker probe and MassTransit's bus with its
    /// consumers) is healthy, else 503 (degraded included); the JSON body gives the status, each check, and what <paramref name="details"/> adds.
    /// <c>GET /metrics</c>: the Prometheus text of <see cref="MLRayMetrics"/>.
    /// </summary>
    public static IEndpointRouteBuilder MapMLRayDefaultEndpoints(this IEndpointRouteBuilder endpoints,
        Func<HttpContext, IReadOnlyDictionary<string, object?>>? details = null)
    {
        endpoints.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        endpoints.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(HealthTags.Ready),
            // Degraded is not ready: MassTransit's bus check says Degraded while a receive endpoint is faulted or not yet
            // restarted after the broker came back, i.e. while the process's consumers consume nothing.
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = (http, report) =>
            {
                var body = new Dictionary<string, object?>
                {
                    ["status"] = report.Status.ToString(),
                    // A check's data too: MassTransit's bus check lists each receive endpoint (the consumers) with its state.
                    ["checks"] = report.Entries.ToDictionary(e => e.Key, e => new
                    {
                        status = e.Value.Status.ToString(),
                        description = e.Value.Description,
                        data = e.Value.Data.Count > 0 ? e.Value.Data : null,
                    }),
                };
                foreach (var (key, value) in details?.Invoke(http) ?? new Dictionary<string, object?>()) body[key] = value;
                return http.Response.WriteAsJsonAsync(body);
            },
        });
        endpoints.MapMLRayMetrics();
        return endpoints;
    }
}
