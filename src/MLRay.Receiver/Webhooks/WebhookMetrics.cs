using Prometheus;

namespace MLRay.Receiver.Webhooks;

public static class WebhookOutcome
{
    public const string Queued = "queued";
    public const string Ignored = "ignored";
    public const string Duplicate = "duplicate";
    public const string Unauthorized = "unauthorized";
    public const string BadRequest = "bad_request";
    public const string TooLarge = "too_large";
    public const string Unavailable = "unavailable";

    public static readonly IReadOnlyList<string> All = [Queued, Ignored, Duplicate, Unauthorized, BadRequest, TooLarge, Unavailable];
}

/// <summary>
/// The receiver's own metrics, in the registry its <c>/metrics</c> exports: <c>mlray_webhooks_total{outcome}</c>,
/// <c>mlray_webhook_duration_seconds</c>, <c>mlray_publishes_total{outcome}</c>.
/// </summary>
public sealed class WebhookMetrics
{
    private readonly Counter _webhooks;
    private readonly Histogram _duration;
    private readonly Counter _publishes;

    public WebhookMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        _webhooks = Metrics.WithCustomRegistry(registry).CreateCounter(
            "mlray_webhooks_total", "MLflow webhook deliveries received, by outcome.",
            new CounterConfiguration { LabelNames = ["outcome"] });
        foreach (var outcome in WebhookOutcome.All) _webhooks.WithLabels(outcome);   // export zeros from the start
        _duration = Metrics.WithCustomRegistry(registry).CreateHistogram(
            "mlray_webhook_duration_seconds", "Time to answer a webhook, the broker's publish confirm included.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });
        _publishes = Metrics.WithCustomRegistry(registry).CreateCounter(
            "mlray_publishes_total", "RegistryChanged publishes to the broker, by outcome (confirmed, failed).",
            new CounterConfiguration { LabelNames = ["outcome"] });
        foreach (var outcome in new[] { "confirmed", "failed" }) _publishes.WithLabels(outcome);
    }

    public CollectorRegistry Registry { get; }

    public void Count(string outcome) => _webhooks.WithLabels(outcome).Inc();

    public void Answered(TimeSpan after) => _duration.Observe(after.TotalSeconds);

    public void Published(bool confirmed) => _publishes.WithLabels(confirmed ? "confirmed" : "failed").Inc();
}
