using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using Prometheus;

namespace MLRay.Receiver.Ops;

/// <summary>
/// Dead-letter gauges on <c>/metrics</c>, read from the queues at each scrape (a bounded peek, so a scrape stays cheap):
/// <c>mlray_dead_letters_queued{cluster,class}</c> (not <c>mlray_dead_letters</c>: that is the worker's counter of letters written), <c>mlray_dead_letter_oldest_age_seconds{cluster}</c>,
/// <c>mlray_unroutable_models</c>, and <c>mlray_dead_letter_metrics_up</c> (0 when the last read failed and the others are stale).
/// A queue another reader holds at that moment keeps its previous figures: a scrape never waits for an operator.
/// </summary>
public sealed class DeadLetterMetrics : IDisposable
{
    /// <summary>At most this many letters per cluster are read; any beyond count under class <c>unknown</c>.</summary>
    public const int PeekBound = 1000;

    private static readonly string[] KnownClasses = [FailureClass.Install, FailureClass.Permanent, DeadLetterCensus.Unknown];

    private readonly DeadLetterStore _store;
    private readonly IReadOnlyList<string> _clusters;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Gauge _letters;
    private readonly Gauge _oldestAge;
    private readonly Gauge _unroutable;
    private readonly Gauge _up;
    private readonly SemaphoreSlim _oneScrape = new(1, 1);
    private readonly HashSet<(string Cluster, string Class)> _seen = [];
    private volatile bool _disposed;

    public DeadLetterMetrics(CollectorRegistry registry, DeadLetterStore store, IReadOnlyList<string> clusters, TimeProvider time, ILogger<DeadLetterMetrics> log)
    {
        (_store, _clusters, _time, _log) = (store, clusters, time, log);
        var factory = Metrics.WithCustomRegistry(registry);
        _letters = factory.CreateGauge("mlray_dead_letters_queued", "Dead letters waiting in each cluster's dead-letter queue, by failure class.",
            new GaugeConfiguration { LabelNames = ["cluster", "class"] });
        _oldestAge = factory.CreateGauge("mlray_dead_letter_oldest_age_seconds", "Age of the oldest dead letter in each cluster's queue (0 when empty).",
            new GaugeConfiguration { LabelNames = ["cluster"] });
        _unroutable = factory.CreateGauge("mlray_unroutable_models", "Messages parked in mlray.unroutable (models no cluster serves).");
        _up = factory.CreateGauge("mlray_dead_letter_metrics_up", "1 when the last scrape read the dead-letter queues, 0 when the broker failed (the figures are stale).");
        foreach (var cluster in clusters)
            foreach (var c in KnownClasses) _seen.Add((cluster, c));
        registry.AddBeforeCollectCallback(RefreshAsync);
    }

    public async Task RefreshAsync(CancellationToken ct)
    {
        // prometheus-net cannot unregister a callback: once this receiver is gone, its callback must not touch the broker
        // or the gauges another receiver in the process (the demo, tests) now owns.
        if (_disposed) return;
        await _oneScrape.WaitAsync(ct);
        try
        {
            // Counted first: a broker that is down fails here, once, instead of once per cluster.
            _unroutable.Set(await _store.CountUnroutableAsync(ct));
            foreach (var cluster in _clusters)
            {
                if (await _store.CensusAsync(cluster, PeekBound, ct) is not { } census) continue;
                foreach (var c in census.ByClass.Keys) _seen.Add((cluster, c));
                foreach (var (_, c) in _seen.Where(s => s.Cluster == cluster))
                    _letters.WithLabels(cluster, c).Set(census.ByClass.GetValueOrDefault(c, 0));
                _oldestAge.WithLabels(cluster).Set(census.Oldest is { } oldest ? Math.Max(0, (_time.GetUtcNow() - oldest).TotalSeconds) : 0);
            }
            _up.Set(1);
        }
        catch (BrokerException e)
        {
            _up.Set(0);
            _log.LogWarning("Dead-letter metrics not refreshed: {Error}", e.Message);
        }
        finally
        {
            _oneScrape.Release();
        }
    }

    public void Dispose() => _disposed = true;
}
