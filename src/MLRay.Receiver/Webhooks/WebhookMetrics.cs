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

/// <summary><c>mlray_webhooks_total{outcome}</c>, in the registry <c>/metrics</c> exports.</summary>
public sealed class WebhookMetrics
{
    private readonly Counter _webhooks;

    public WebhookMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        _webhooks = Metrics.WithCustomRegistry(registry).CreateCounter(
            "mlray_webhooks_total", "MLflow webhook deliveries received, by outcome.",
            new CounterConfiguration { LabelNames = ["outcome"] });
        foreach (var outcome in WebhookOutcome.All) _webhooks.WithLabels(outcome);   // export zeros from the start
    }

    public CollectorRegistry Registry { get; }

    public void Count(string outcome) => _webhooks.WithLabels(outcome).Inc();
}
