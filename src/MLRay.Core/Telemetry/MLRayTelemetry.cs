using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MLRay.Telemetry;

/// <summary>
/// MLRay's own spans and metrics, on the .NET APIs OpenTelemetry uses (source and meter <c>MLRay</c>). The hosts export
/// the spans over OTLP and the metrics on <c>/metrics</c>, each name prefixed with the meter's (<c>reconciles</c> reads
/// <c>mlray_reconciles</c>).
/// Every name is listed in the README.
/// </summary>
public static class MLRayTelemetry
{
    public const string Name = "MLRay";
    /// <summary>Span attribute carrying MLflow's <c>X-MLflow-Delivery-Id</c>.</summary>
    public const string DeliveryIdAttribute = "mlflow.delivery_id";
    public const string ClusterAttribute = "cluster";

    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> RoutingDecisions = Meter.CreateCounter<long>("routing.decisions", description: "Router decisions, by decision: python (a Python version's clusters), all (every cluster), unroutable");
    public static readonly Counter<long> Reconciles = Meter.CreateCounter<long>("reconciles", description: "Cluster reconciles, by cluster and outcome: applied, unchanged, transient_error");
    public static readonly Histogram<double> ReconcileDuration = Meter.CreateHistogram<double>("reconcile.duration", "s", "Duration of one cluster reconcile, by cluster");
    public static readonly Counter<long> Puts = Meter.CreateCounter<long>("ray.puts", description: "Serve config PUTs Ray accepted, by cluster");
    public static readonly Counter<long> StatusTagWrites = Meter.CreateCounter<long>("status_tag.writes", description: "mlray.<cluster>.* tag writes on model versions, by cluster");
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("retries", description: "Retries, by cluster and class: install (a new attempt of a version), transient (a reconcile tried again)");
    public static readonly Histogram<double> HttpRequestDuration = Meter.CreateHistogram<double>("http.request.duration", "s", "One attempt of a request to MLflow, Ray or the package index, by server, endpoint (route template), method and status");
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
