using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using System.Diagnostics.Metrics;
using MLRay.ServiceDefaults;
using MLRay.Telemetry;

namespace MLRay.Receiver.Ops;

/// <summary>
/// Dead-letter gauges on <c>/metrics</c>, read from the queues at each scrape (a bounded peek, so a scrape stays cheap):
/// <c>mlray_dead_letters_queued{cluster,class}</c> (not <c>mlray_dead_letters</c>: that is the worker's counter of letters written), <c>mlray_dead_letter_oldest_age_seconds{cluster}</c>,
/// <c>mlray_unroutable_models</c>, and <c>mlray_dead_letter_metrics_up</c> (0 when the last read failed and the others are stale).
/// A queue another reader holds at that moment keeps its previous figures: a scrape never waits for an operator.
/// The scrape endpoint runs <see cref="RefreshAsync"/> before it collects (<see cref="IMetricsRefresher"/>); the gauges,
/// on the receiver's own meter, report what the last refresh read.
/// </summary>
public sealed class DeadLetterMetrics : IMetricsRefresher
{
    /// <summary>At most this many letters per cluster are read; any beyond count under class <c>unknown</c>.</summary>
    public const int PeekBound = 1000;

    private static readonly string[] KnownClasses = [FailureClass.Install, FailureClass.Permanent, DeadLetterCensus.Unknown];

    private readonly DeadLetterStore _store;
    private readonly IReadOnlyList<string> _clusters;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _oneScrape = new(1, 1);
    private readonly Lock _figures = new();
    private readonly HashSet<(string Cluster, string Class)> _seen = [];
    private readonly Dictionary<(string Cluster, string Class), long> _letters = [];
    private readonly Dictionary<string, double> _oldestAge = [];
    private long _unroutable;
    private int _up;

    public DeadLetterMetrics(IMeterFactory meters, DeadLetterStore store, IReadOnlyList<string> clusters, TimeProvider time, ILogger<DeadLetterMetrics> log)
    {
        (_store, _clusters, _time, _log) = (store, clusters, time, log);
        foreach (var cluster in clusters)
            foreach (var c in KnownClasses) _seen.Add((cluster, c));
        var meter = meters.Create(MLRayTelemetry.Name);
        meter.CreateObservableGauge("dead_letters_queued", () => Observe(_letters, k => [Tag("cluster", k.Cluster), Tag("class", k.Class)]),
            description: "Dead letters waiting in each cluster's dead-letter queue, by failure class.");
        meter.CreateObservableGauge("dead_letter_oldest_age_seconds", () => Observe(_oldestAge, k => [Tag("cluster", k)]), "s",
            "Age of the oldest dead letter in each cluster's queue (0 when empty).");
        meter.CreateObservableGauge("unroutable_models", () => Interlocked.Read(ref _unroutable),
            description: "Messages parked in mlray.unroutable (models no cluster serves).");
        meter.CreateObservableGauge("dead_letter_metrics_up", () => Volatile.Read(ref _up),
            description: "1 when the last scrape read the dead-letter queues, 0 when the broker failed (the figures are stale).");
    }

    public async Task RefreshAsync(CancellationToken ct)
    {
        await _oneScrape.WaitAsync(ct);
        try
        {
            // Counted first: a broker that is down fails here, once, instead of once per cluster.
            Interlocked.Exchange(ref _unroutable, await _store.CountUnroutableAsync(ct));
            foreach (var cluster in _clusters)
            {
                if (await _store.CensusAsync(cluster, PeekBound, ct) is not { } census) continue;
                var age = census.Oldest is { } oldest ? Math.Max(0, (_time.GetUtcNow() - oldest).TotalSeconds) : 0;
                lock (_figures)
                {
                    foreach (var c in census.ByClass.Keys) _seen.Add((cluster, c));
                    foreach (var key in _seen.Where(s => s.Cluster == cluster))
                        _letters[key] = census.ByClass.GetValueOrDefault(key.Class, 0);
                    _oldestAge[cluster] = age;
                }
            }
            Volatile.Write(ref _up, 1);
        }
        catch (BrokerException e)
        {
            Volatile.Write(ref _up, 0);
            _log.LogWarning("Dead-letter metrics not refreshed: {Error}", e.Message);
        }
        finally
        {
            _oneScrape.Release();
        }
    }

    private IEnumerable<Measurement<T>> Observe<TKey, T>(Dictionary<TKey, T> figures, Func<TKey, KeyValuePair<string, object?>[]> tags)
        where TKey : notnull where T : struct
    {
        lock (_figures) return figures.Select(f => new Measurement<T>(f.Value, tags(f.Key))).ToList();
    }

    private static KeyValuePair<string, object?> Tag(string key, string value) => MLRayTelemetry.Tag(key, value);
}
