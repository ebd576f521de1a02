using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MLRay.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MLRay.ServiceDefaults;

public static class TracingExtensions
{
    /// <summary>The activity sources one webhook's trace is made of: MLRay's own spans and MassTransit's publish/consume.</summary>
    public static readonly string[] Sources = [MLRayTelemetry.Name, "MassTransit"];

    private static readonly string[] Probes = ["/healthz", "/readyz", "/metrics"];

    /// <summary>
    /// OpenTelemetry tracing: ASP.NET Core (probes and scrapes left out), HttpClient (MLflow, Ray, S3), MassTransit (which
    /// carries the trace context in its message headers from receiver to router to worker) and MLRay's spans; exported
    /// over OTLP when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, otherwise kept in process (nothing sent).
    /// </summary>
    public static IServiceCollection AddMLRayTracing(this IServiceCollection services, IConfiguration configuration, string application)
    {
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(application))
            .WithTracing(t => t
                .AddSource(Sources)
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !Probes.Any(p => http.Request.Path.StartsWithSegments(p)))
                .AddHttpClientInstrumentation());
        if (!string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            otel.UseOtlpExporter();
        return services;
    }
}
