namespace MLRay.Emulators.Mlflow;

/// <summary>Start-up options of <see cref="MlflowEmulator"/>.</summary>
public sealed record MlflowEmulatorOptions
{
    /// <summary>The loopback port to listen on; 0 (default) takes a free one.</summary>
    public int Port { get; init; }

    /// <summary>When set, every request must carry <c>Authorization: Bearer &lt;token&gt;</c> (or valid basic credentials, if those are configured too).</summary>
    public string? RequiredBearerToken { get; init; }

    /// <summary>With <see cref="RequiredBasicPassword"/>: every request must carry <c>Authorization: Basic base64(user:password)</c>.</summary>
    public string? RequiredBasicUser { get; init; }

    public string? RequiredBasicPassword { get; init; }

    /// <summary>Webhook delivery: retries after the first attempt on 429/500/502/503/504 or connection errors (MLflow default 3).</summary>
    public int WebhookMaxRetries { get; init; } = 3;

    /// <summary>Webhook deliveries in flight at once (MLflow's <c>MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS</c>, 10).</summary>
    public int WebhookDeliveryWorkers { get; init; } = 10;

    /// <summary>Webhook delivery: backoff factor; waits are factor × 1, 2, 4… (MLflow/urllib3 factor 1 s).</summary>
    public TimeSpan WebhookBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Webhook delivery: per-attempt timeout (MLflow default 30 s).</summary>
    public TimeSpan WebhookTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>Fault injection knobs; all members are thread-safe and may be changed while the emulator runs.</summary>
public sealed class MlflowFaults
{
    private int _failNext;
    private int _dropNext;
    private long _delayTicks;

    /// <summary>The next N API requests get 503 <c>{"error_code":"TEMPORARILY_UNAVAILABLE",...}</c>.</summary>
    public int FailNext
    {
        get => Volatile.Read(ref _failNext);
        set => Volatile.Write(ref _failNext, value);
    }

    /// <summary>The next N API requests have their connection aborted without a response.</summary>
    public int DropNext
    {
        get => Volatile.Read(ref _dropNext);
        set => Volatile.Write(ref _dropNext, value);
    }

    /// <summary>
    /// <c>model-versions/search</c> refuses <c>LIKE</c>/<c>ILIKE</c> on <c>name</c> with 400, as stores that accept only
    /// <c>=</c> and <c>IN</c> there do.
    /// </summary>
    public bool RefuseVersionNameLike { get; set; }

    /// <summary>Added to every request before it is handled.</summary>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set => Interlocked.Exchange(ref _delayTicks, value.Ticks);
    }

    internal bool TryConsumeFailure() => TryConsume(ref _failNext);

    internal bool TryConsumeDrop() => TryConsume(ref _dropNext);

    private static bool TryConsume(ref int counter)
    {
        while (true)
        {
            var current = Volatile.Read(ref counter);
            if (current <= 0) return false;
            if (Interlocked.CompareExchange(ref counter, current - 1, current) == current) return true;
        }
    }
}

/// <summary>One webhook delivery the emulator made (or tried to make).</summary>
/// <param name="WebhookId">Id of the webhook.</param>
/// <param name="Url">Target URL.</param>
/// <param name="Event">Event as <c>entity.action</c> in lower case, e.g. <c>model_version.created</c>.</param>
/// <param name="DeliveryId">Value of <c>X-MLflow-Delivery-Id</c>.</param>
/// <param name="Timestamp">Value of <c>X-MLflow-Timestamp</c> (Unix seconds).</param>
/// <param name="Body">Exact request body sent.</param>
/// <param name="Signature">Value of <c>X-MLflow-Signature</c>, or null when the webhook has no secret.</param>
/// <param name="ResponseStatus">Last HTTP status received, or null when no response arrived.</param>
/// <param name="Error">Last connection error, if any.</param>
/// <param name="Attempts">Number of attempts made.</param>
/// <param name="IsTest">True for deliveries made by <c>POST webhooks/{id}/test</c>.</param>
public sealed record WebhookDelivery(
    string WebhookId,
    string Url,
    string Event,
    string DeliveryId,
    string Timestamp,
    string Body,
    string? Signature,
    int? ResponseStatus,
    string? Error,
    int Attempts,
    bool IsTest)
{
    /// <summary>When the first attempt started.</summary>
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>When the last attempt ended (answered, failed or gave up).</summary>
    public DateTimeOffset AnsweredAt { get; init; }
}

internal class MlflowError(int status, string errorCode, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string ErrorCode { get; } = errorCode;
}
