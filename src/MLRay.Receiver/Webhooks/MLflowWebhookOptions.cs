using Microsoft.Extensions.Options;

namespace MLRay.Receiver.Webhooks;

/// <summary>Settings of <c>POST /webhooks/mlflow</c>, filled from <c>config.yml</c> and validated at start-up.</summary>
public sealed class MLflowWebhookOptions
{
    public const long OneMiB = 1024 * 1024;

    /// <summary>Only registered models whose name ends with this are announced (<c>mlflow.model_name_suffix</c>).</summary>
    public string ModelNameSuffix { get; set; } = MlflowSettings.DefaultModelNameSuffix;
    /// <summary>The webhook secret; null = unsigned deliveries accepted (the receiver starts so only with <c>receiver.allow_unsigned</c>). Never logged.</summary>
    public string? Secret { get; set; }
    /// <summary>Which signature mode runs, for the start-up log and <c>/readyz</c>.</summary>
    public string SignatureMode => Secret is null ? "not checked (receiver.allow_unsigned: true)" : "required";
    /// <summary>How long a published delivery id is remembered (<c>receiver.dedup_window</c>).</summary>
    public TimeSpan DedupWindow { get; set; } = PipelineSettings.DefaultDedupWindow;
    /// <summary>Upper bound on a publish (MassTransit returns after the broker's publisher confirm).</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);
    public long MaxBodyBytes { get; set; } = OneMiB;
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromSeconds(300);
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Seconds MLflow is told to wait before retrying a 503.</summary>
    public int RetryAfterSeconds { get; set; } = 5;
    /// <summary>At most this many delivery ids are remembered (oldest forgotten first).</summary>
    public int MaxRememberedDeliveries { get; set; } = 1_000_000;

    public override string ToString() =>
        $"MLflowWebhookOptions(ModelNameSuffix={ModelNameSuffix}, Secret={(Secret is null ? "none" : "***")}, DedupWindow={DedupWindow}, PublishTimeout={PublishTimeout})";
}

internal sealed class MLflowWebhookOptionsValidator : IValidateOptions<MLflowWebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, MLflowWebhookOptions o)
    {
        var problems = new List<string>();
        if (string.IsNullOrEmpty(o.ModelNameSuffix)) problems.Add("mlflow.model_name_suffix must not be empty");
        if (o.Secret is { Length: 0 }) problems.Add("the webhook secret is empty");
        if (o.DedupWindow <= TimeSpan.Zero) problems.Add("receiver.dedup_window must be positive");
        if (o.PublishTimeout <= TimeSpan.Zero) problems.Add("the publish timeout must be positive");
        if (o.MaxBodyBytes <= 0) problems.Add("the body size limit must be positive");
        if (o.MaxAge <= TimeSpan.Zero || o.MaxFutureSkew < TimeSpan.Zero) problems.Add("the timestamp window must be positive");
        if (o.RetryAfterSeconds <= 0) problems.Add("Retry-After must be positive");
        if (o.MaxRememberedDeliveries <= 0) problems.Add("the dedup capacity must be positive");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
