using System.Buffers;
using Microsoft.Extensions.Options;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Publishing;
using Serilog;

namespace MLRay.Receiver.Webhooks;

/// <summary>
/// <c>POST /webhooks/mlflow</c>: size limit → headers → HMAC v1 signature → timestamp window → envelope → dedup →
/// publish with confirm → 202. Answers 2xx only once the broker has the message (invariant 1); 503 otherwise,
/// which MLflow retries. Never logs the secret, the signature or the body (invariant 8).
/// </summary>
public sealed class MLflowWebhookHandler(
    IOptions<MLflowWebhookOptions> options,
    PublishedDeliveries deliveries,
    TimeProvider time,
    WebhookMetrics metrics,
    ILogger<MLflowWebhookHandler> log)
{
    public const string DeliveryIdHeader = "X-MLflow-Delivery-Id";
    public const string TimestampHeader = "X-MLflow-Timestamp";
    public const string SignatureHeader = "X-MLflow-Signature";
    private const int MaxDeliveryIdLength = 128;

    private readonly MLflowWebhookOptions _options = options.Value;

    public async Task<IResult> HandleAsync(HttpContext http)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            return await HandleOneAsync(http);
        }
        finally
        {
            metrics.Answered(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
    }

    private async Task<IResult> HandleOneAsync(HttpContext http)
    {
        var request = http.RequestServices;
        var headers = http.Request.Headers;
        var deliveryId = Single(headers[DeliveryIdHeader]);
        var diagnostics = request.GetService<IDiagnosticContext>();
        using var _ = deliveryId is null ? null : Serilog.Context.LogContext.PushProperty("DeliveryId", deliveryId);
        if (deliveryId is not null) diagnostics?.Set("DeliveryId", deliveryId);
        // The request's span is the root of this delivery's trace (router, worker and Ray PUT follow it).
        System.Diagnostics.Activity.Current?.SetTag(MLRay.Telemetry.MLRayTelemetry.DeliveryIdAttribute, deliveryId);

        if (http.Request.ContentLength > _options.MaxBodyBytes) return TooLarge(http.Request.ContentLength.Value);
        var body = await ReadBodyAsync(http.Request.Body, _options.MaxBodyBytes, http.RequestAborted);
        if (body is null) return TooLarge(null);

        if (string.IsNullOrEmpty(deliveryId)) return BadRequest($"missing or repeated {DeliveryIdHeader} header");
        if (deliveryId.Length > MaxDeliveryIdLength || deliveryId.Any(char.IsControl))
            return BadRequest($"{DeliveryIdHeader} is not a delivery id");
        var timestamp = Single(headers[TimestampHeader]);
        if (string.IsNullOrEmpty(timestamp)) return BadRequest($"missing or repeated {TimestampHeader} header");

        if (_options.Secret is { } secret)
        {
            var signatures = headers[SignatureHeader];
            var problem = signatures.Count > 1
                ? $"repeated {SignatureHeader} header (send exactly one)"
                : MlflowSignature.Verify(secret, deliveryId, timestamp, body, signatures.Count == 1 ? signatures[0] : null) switch
                {
                    SignatureCheck.Valid => null,
                    SignatureCheck.Missing => $"missing {SignatureHeader} header",
                    SignatureCheck.Malformed => $"{SignatureHeader} is not 'v1,<base64 HMAC-SHA256>'",
                    _ => "signature does not match",
                };
            if (problem is not null)
            {
                metrics.Count(WebhookOutcome.Unauthorized);
                log.LogWarning("Webhook rejected: {Problem}", problem);
                return Results.Json(new { error = problem }, statusCode: StatusCodes.Status401Unauthorized);
            }
        }

        switch (ReplayWindow.Check(timestamp, time.GetUtcNow(), _options.MaxAge, _options.MaxFutureSkew))
        {
            case TimestampCheck.Ok: break;
            case TimestampCheck.TooOld: return BadRequest($"{TimestampHeader} is older than {_options.MaxAge.TotalSeconds:0} s");
            case TimestampCheck.TooFarInFuture: return BadRequest($"{TimestampHeader} is more than {_options.MaxFutureSkew.TotalSeconds:0} s in the future");
            default: return BadRequest($"{TimestampHeader} is not Unix seconds");
        }

        RegistryChanged message;
        switch (WebhookEventMapper.Map(body, deliveryId, _options.ModelNameSuffix))
        {
            case WebhookDecision.Invalid invalid:
                return BadRequest(invalid.Problem);
            case WebhookDecision.Ignore ignore:
                metrics.Count(WebhookOutcome.Ignored);
                // Mostly MLRay's own mlray.* tag writes coming back: counted (mlray_webhooks_total), not a decision worth a line.
                log.LogDebug("Webhook {Event} ignored: {Reason}", ignore.Event, ignore.Reason);
                return Results.Json(new { ignored = ignore.Reason }, statusCode: StatusCodes.Status200OK);
            case WebhookDecision.Publish publish:
                // Stamped on arrival: the change was in the registry by now, so a registry read begun later answers it.
                message = publish.Message with { QueuedAt = time.GetUtcNow() };
                break;
            default:
                throw new InvalidOperationException("unknown decision");
        }

        switch (deliveries.TryBegin(deliveryId))
        {
            case DeliveryState.Published:
                metrics.Count(WebhookOutcome.Duplicate);
                log.LogInformation("Webhook {Event} for {RegisteredModel} is a duplicate delivery: already queued", message.Reason, message.RegisteredModel);
                return Results.Json(new { duplicate = true }, statusCode: StatusCodes.Status200OK);
            case DeliveryState.InFlight:
                // The first attempt is still publishing; MLflow retries later and gets "duplicate" or a fresh publish.
                return Unavailable("the same delivery is being published", null);
        }

        // Always registered (AddMLflowWebhooks: the bus's, unless the pipeline put RabbitMQ.Client's in its place).
        var publisher = request.GetRequiredService<IRegistryChangedPublisher>();
        try
        {
            await PublishAsync(publisher, message, http.RequestAborted);
            metrics.Published(confirmed: true);
        }
        catch (Exception e)
        {
            metrics.Published(confirmed: false);
            deliveries.Abandon(deliveryId);
            var timedOut = e is OperationCanceledException && !http.RequestAborted.IsCancellationRequested;
            return Unavailable(timedOut ? $"publish not confirmed within {_options.PublishTimeout.TotalSeconds:0.###} s" : "publish failed",
                timedOut ? null : e);
        }
        deliveries.Complete(deliveryId);
        metrics.Count(WebhookOutcome.Queued);
        // The hot path's one log line is the request's own (UseSerilogRequestLogging, which ReceiverApp always adds): it carries these.
        diagnostics?.Set("Outcome", "queued");
        diagnostics?.Set("Event", message.Reason);
        diagnostics?.Set("RegisteredModel", message.RegisteredModel);
        diagnostics?.Set("Version", message.Version);
        diagnostics?.Set("Alias", message.Alias);
        return Results.Json(new { queued = true }, statusCode: StatusCodes.Status202Accepted);
    }

    private async Task PublishAsync(IRegistryChangedPublisher publisher, RegistryChanged message, CancellationToken aborted)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(_options.PublishTimeout);
        var publish = publisher.PublishAsync(message, timeout.Token);
        try
        {
            // WaitAsync bounds the wait even if the endpoint ignores the token.
            await publish.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!publish.IsCompleted)
        {
            _ = publish.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            throw;
        }
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes; null if the body is longer.</summary>
    internal static async Task<byte[]?> ReadBodyAsync(Stream stream, long limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit) return null;
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    private static string? Single(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 1 ? values[0] : null;

    private IResult BadRequest(string problem)
    {
        metrics.Count(WebhookOutcome.BadRequest);
        log.LogWarning("Webhook rejected: {Problem}", problem);
        return Results.Json(new { error = problem }, statusCode: StatusCodes.Status400BadRequest);
    }

    private IResult TooLarge(long? length)
    {
        metrics.Count(WebhookOutcome.TooLarge);
        log.LogWarning("Webhook rejected: body of {Length} bytes is over the {Limit}-byte limit", length?.ToString() ?? "more than the limit", _options.MaxBodyBytes);
        return Results.Json(new { error = $"body larger than {_options.MaxBodyBytes} bytes" }, statusCode: StatusCodes.Status413PayloadTooLarge);
    }

    private IResult Unavailable(string problem, Exception? error)
    {
        metrics.Count(WebhookOutcome.Unavailable);
        log.LogWarning(error, "Webhook not queued ({Problem}): answering 503 so MLflow retries", problem);
        return new UnavailableResult(problem, _options.RetryAfterSeconds);
    }

    private sealed class UnavailableResult(string problem, int retryAfterSeconds) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(new { error = problem }, statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(http);
        }
    }
}
