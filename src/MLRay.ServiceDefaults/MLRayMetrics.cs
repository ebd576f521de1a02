using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MLRay.Telemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace MLRay.ServiceDefaults;

/// <summary>Something read afresh right before each scrape of <c>/metrics</c> (the receiver's dead-letter gauges read the queues).</summary>
public interface IMetricsRefresher
{
    Task RefreshAsync(CancellationToken ct);
}

/// <summary>
/// One metrics system for every MLRay host: <see cref="System.Diagnostics.Metrics"/> instruments, collected by
/// OpenTelemetry's SDK and exported once, on <c>/metrics</c>, by its Prometheus exporter (text format).
/// <para>
/// Exported: the meter <c>MLRay</c> — the static one of <see cref="MLRayTelemetry"/> and the one a host's own container
/// makes (<see cref="IMeterFactory"/>: the receiver's webhook and dead-letter metrics) — each instrument as
/// <c>mlray_</c> + its name, dots as underscores, nothing appended (the exporter's unit and <c>_total</c> suffixes are
/// off, so the names are the README's whatever an instrument's unit); and .NET's own runtime meter <c>System.Runtime</c>
/// (<c>dotnet_gc_*</c>, <c>dotnet_process_*</c>, <c>dotnet_thread_pool_*</c> …). No scope labels, no <c>target_info</c>.
/// A meter of another container of the same process (a second receiver in the tests, the demo) is not this host's:
/// it is dropped, so two receivers in one process never mix figures.
/// </para>
/// </summary>
public static class MLRayMetrics
{
    public const string Path = "/metrics";

    /// <summary>What <c>/metrics</c> answers in: Prometheus's text exposition format.</summary>
    public const string TextFormat = "text/plain; version=0.0.4";

    /// <summary>.NET's runtime metrics (GC, CPU time, working set, thread pool), built into the runtime since .NET 9.</summary>
    public const string RuntimeMeter = "System.Runtime";

    public static IServiceCollection AddMLRayMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(MLRayTelemetry.Name, RuntimeMeter)
            .AddMLRayView()
            .AddPrometheusExporter(o =>
            {
                o.TranslationStrategy = PrometheusAspNetCoreTranslationStrategy.UnderscoreEscapingWithoutSuffixes;
                o.ScopeInfoEnabled = false;
                o.TargetInfoEnabled = false;
                o.ScrapeResponseCacheDurationMilliseconds = 0; // every scrape collects: a test reads what it just did
            }));
        return services;
    }

    private static MeterProviderBuilder AddMLRayView(this MeterProviderBuilder metrics)
    {
        // The view needs this container's meter factory: known once the provider is built from the container.
        ((IDeferredMeterProviderBuilder)metrics).Configure((sp, builder) =>
        {
            var own = sp.GetRequiredService<IMeterFactory>();
            builder.AddView(instrument => View(instrument, own));
        });
        return metrics;
    }

    /// <summary>MLRay's instruments renamed <c>mlray.</c> + name; another container's meter dropped; the rest as they are.</summary>
    internal static MetricStreamConfiguration? View(Instrument instrument, IMeterFactory own)
    {
        if (instrument.Meter.Scope is not null && !ReferenceEquals(instrument.Meter.Scope, own)) return MetricStreamConfiguration.Drop;
        return instrument.Meter.Name == MLRayTelemetry.Name
            ? new MetricStreamConfiguration { Name = MLRayTelemetry.Name.ToLowerInvariant() + "." + instrument.Name }
            : null;
    }

    /// <summary>
    /// <c>GET /metrics</c>: every <see cref="IMetricsRefresher"/> refreshes, then the exporter collects and writes the
    /// Prometheus text. The meter provider is built now, before the host starts, so nothing recorded from then on is lost.
    /// </summary>
    public static IEndpointRouteBuilder MapMLRayMetrics(this IEndpointRouteBuilder endpoints)
    {
        endpoints.ServiceProvider.GetRequiredService<MeterProvider>();
        endpoints.MapPrometheusScrapingEndpoint(Path, meterProvider: null, configureBranchedPipeline: branch => branch.Use(async (http, next) =>
        {
            // Always the classic text format, whatever a scraper prefers: asked for OpenMetrics, the exporter would name
            // counter families without their _total samples (the suffixes are off), which OpenMetrics does not allow.
            http.Request.Headers.Accept = TextFormat;
            foreach (var refresher in http.RequestServices.GetServices<IMetricsRefresher>())
                await refresher.RefreshAsync(http.RequestAborted);
            await next(http);
        }), optionsName: null);
        return endpoints;
    }
}
