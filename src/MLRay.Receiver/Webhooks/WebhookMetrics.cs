using System.Diagnostics.Metrics;
using MLRay.Telemetry;

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
/// The receiver's own metrics, on its container's meter <c>MLRay</c> (so two receivers in one process never mix figures):
/// <c>mlray_webhooks_total{outcome}</c>, <c>mlray_webhook_duration_seconds</c>, <c>mlray_publishes_total{outcome}</c>.
/// The counters are observed at each scrape from this object's counts, so every outcome is exported from the start (0).
/// </summary>
public sealed class WebhookMetrics
{
    private static readonly string[] PublishOutcomes = ["confirmed", "failed"];

    private readonly long[] _webhooks = new long[WebhookOutcome.All.Count];
    private readonly long[] _publishes = new long[PublishOutcomes.Length];
    private readonly Histogram<double> _duration;

    public WebhookMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MLRayTelemetry.Name);
        meter.CreateObservableCounter("webhooks_total", () => Observe(_webhooks, WebhookOutcome.All),
            description: "MLflow webhook deliveries received, by outcome.");
        _duration = meter.CreateHistogram("webhook_duration_seconds", "s", "Time to answer a webhook, the broker's publish confirm included.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Enumerable.Range(0, 14).Select(i => 0.001 * Math.Pow(2, i)).ToList() });
        meter.CreateObservableCounter("publishes_total", () => Observe(_publishes, PublishOutcomes),
            description: "RegistryChanged publishes to the broker, by outcome (confirmed, failed).");
    }

    public void Count(string outcome) => Interlocked.Increment(ref _webhooks[IndexOf(WebhookOutcome.All, outcome)]);

    public void Answered(TimeSpan after) => _duration.Record(after.TotalSeconds);

    public void Published(bool confirmed) => Interlocked.Increment(ref _publishes[confirmed ? 0 : 1]);

    private static int IndexOf(IReadOnlyList<string> outcomes, string outcome)
    {
        for (var i = 0; i < outcomes.Count; i++)
            if (outcomes[i] == outcome) return i;
        throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a webhook outcome");
    }

    private static IEnumerable<Measurement<long>> Observe(long[] counts, IReadOnlyList<string> outcomes) =>
        outcomes.Select((o, i) => new Measurement<long>(Interlocked.Read(ref counts[i]), MLRayTelemetry.Tag("outcome", o)));
}
