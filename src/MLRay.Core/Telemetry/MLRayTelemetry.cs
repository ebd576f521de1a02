using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MLRay.Telemetry;

/// <summary>
/// MLRay's own spans and metrics, on the .NET APIs OpenTelemetry uses (source and meter <c>MLRay</c>). The hosts export
/// the spans over OTLP and the metrics on <c>/metrics</c> (OpenTelemetry's Prometheus exporter), each name prefixed with
/// the meter's, dots as underscores and nothing appended (<c>reconciles</c> reads <c>mlray_reconciles</c>).
/// Every name is listed in the README.
/// </summary>
public static class MLRayTelemetry
{
    public const string Name = "MLRay";
    /// <summary>Span attribute carrying MLflow's <c>X-MLflow-Delivery-Id</c>.</summary>
    public const string DeliveryIdAttribute = "mlflow.delivery_id";
    public const string ClusterAttribute = "cluster";

    /// <summary>
    /// Bucket bounds of the histograms in seconds (OpenTelemetry's default ones are for milliseconds): 5 ms to 10 s, as
    /// Prometheus clients have them.
    /// </summary>
    public static readonly IReadOnlyList<double> SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);
    private static readonly InstrumentAdvice<double> Seconds = new() { HistogramBucketBoundaries = SecondsBuckets };

    public static readonly Counter<long> RoutingDecisions = Meter.CreateCounter<long>("routing.decisions", description: "Router decisions, by decision: python (a Python version's clusters), all (every cluster), unroutable");
    public static readonly Counter<long> Reconciles = Meter.CreateCounter<long>("reconciles", description: "Cluster reconciles, by cluster and outcome: applied, unchanged, transient_error");
    public static readonly Histogram<double> ReconcileDuration = Meter.CreateHistogram("reconcile.duration", "s", "Duration of one cluster reconcile, by cluster", tags: null, advice: Seconds);
    public static readonly Counter<long> Puts = Meter.CreateCounter<long>("ray.puts", description: "Serve config PUTs Ray accepted, by cluster");
    public static readonly Counter<long> StatusTagWrites = Meter.CreateCounter<long>("status_tag.writes", description: "mlray.<cluster>.* tag writes on model versions, by cluster");
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("retries", description: "Retries, by cluster and class: install (a new attempt of a version), transient (a reconcile tried again)");
    public static readonly Histogram<double> HttpRequestDuration = Meter.CreateHistogram("http.request.duration", "s", "One attempt of a request to MLflow, Ray or the package index, by server, endpoint (route template), method and status",
        tags: null, advice: Seconds);
    public static readonly Counter<long> HttpRequestErrors = Meter.CreateCounter<long>("http.request.errors", description: "Attempts of requests to MLflow, Ray or the package index that got no 2xx/3xx answer, by server, endpoint, method and status");
    public static readonly Counter<long> DeadLetters = Meter.CreateCounter<long>("dead_letters", description: "Dead letters written, by cluster and failure class");

    private static readonly Lock AppsLock = new();
    private static readonly Dictionary<(string Cluster, string Status), long> AppsByStatus = new();

    static MLRayTelemetry() =>
        Meter.CreateObservableGauge("apps", ObserveApps, description: "Apps on each cluster by Ray status, as its last reconcile saw them");

    /// <summary>What a reconcile saw on its cluster (for <c>mlray.apps</c>).</summary>
    public static void RecordApps(string cluster, IEnumerable<string> statuses)
    {
        lock (AppsLock)
        {
            foreach (var key in AppsByStatus.Keys.Where(k => k.Cluster == cluster).ToList()) AppsByStatus[key] = 0;
            foreach (var group in statuses.GroupBy(s => s)) AppsByStatus[(cluster, group.Key)] = group.Count();
        }
    }

    private static IEnumerable<Measurement<long>> ObserveApps()
    {
        lock (AppsLock)
            return AppsByStatus.Select(kv => new Measurement<long>(kv.Value, Tag("cluster", kv.Key.Cluster), Tag("status", kv.Key.Status))).ToList();
    }

    public static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);
}
