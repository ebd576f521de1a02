using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace MLRay.Emulators.Mlflow;

/// <summary>
/// Sends webhook deliveries the way MLflow does: signed, POSTed by a pool of workers, retried with backoff on 429/5xx
/// and connection errors, fire-and-forget for registry events, awaited for <c>webhooks/{id}/test</c>. It holds no
/// registry state: the registry hands it events after releasing its lock, and it keeps its own record of deliveries.
/// </summary>
internal sealed class WebhookDispatcher : IAsyncDisposable
{
    private static readonly int[] RetryStatuses = [429, 500, 502, 503, 504];

    private readonly MlflowEmulatorOptions _options;
    private readonly ConcurrentDictionary<Task, byte> _pending = new();
    private readonly SemaphoreSlim _workers;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly HttpClient _client = new(new SocketsHttpHandler { AllowAutoRedirect = true }) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly object _deliveriesLock = new();
    private readonly List<WebhookDelivery> _deliveries = new();
    private int _disposed;

    public WebhookDispatcher(MlflowEmulatorOptions options)
    {
        _options = options;
        _workers = new SemaphoreSlim(Math.Max(1, options.WebhookDeliveryWorkers));
    }

    /// <summary>Completed deliveries, in the order they finished.</summary>
    public IReadOnlyList<WebhookDelivery> Deliveries
    {
        get { lock (_deliveriesLock) return _deliveries.ToArray(); }
    }

    /// <summary>Queues the deliveries and returns at once (MLflow fires webhooks in the background).</summary>
    public void Enqueue(IReadOnlyList<PendingDelivery> deliveries)
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        foreach (var (evt, target) in deliveries)
        {
            var task = Task.Run(async () =>
            {
                // MLflow delivers on a thread pool of MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS (10) senders.
                await _workers.WaitAsync(_shutdown.Token).ConfigureAwait(false);
                try { return await DeliverAsync(target, evt.Name, MlflowWire.EventData(evt), isTest: false).ConfigureAwait(false); }
                finally { _workers.Release(); }
            });
            _pending.TryAdd(task, 0);
            task.ContinueWith(t => _pending.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    /// <summary>Waits until no delivery is in flight (or the timeout passes).</summary>
    public async Task WaitForIdleAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_pending.IsEmpty && DateTime.UtcNow < deadline)
            await Task.Delay(20).ConfigureAwait(false);
    }

    /// <summary>Sends one event to one webhook with MLflow's retries, records it, and returns it with the last response body.</summary>
    public async Task<(WebhookDelivery Delivery, string? ResponseBody)> DeliverAsync(WebhookTarget target, string evt, JsonObject data, bool isTest)
    {
        var body = MlflowWire.Envelope(evt, data, DateTime.UtcNow);
        var startedAt = DateTimeOffset.UtcNow;
        var deliveryId = Guid.NewGuid().ToString();
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = target.Secret is null ? null : Sign(target.Secret, deliveryId, timestamp, body);

        int? status = null;
        string? error = null;
        string? responseBody = null;
        var attempts = 0;
        var ct = _shutdown.Token;
        for (var attempt = 0; attempt <= Math.Max(0, _options.WebhookMaxRetries); attempt++)
        {
            attempts++;
            TimeSpan? retryAfter = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, target.Url);
                var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Content = content;
                request.Headers.TryAddWithoutValidation("X-MLflow-Delivery-Id", deliveryId);
                request.Headers.TryAddWithoutValidation("X-MLflow-Timestamp", timestamp);
                if (signature is not null) request.Headers.TryAddWithoutValidation("X-MLflow-Signature", signature);
                request.Headers.TryAddWithoutValidation("User-Agent", "python-requests/2.32.4");
                request.Headers.TryAddWithoutValidation("Accept", "*/*");
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(_options.WebhookTimeout);
                using var response = await _client.SendAsync(request, timeout.Token).ConfigureAwait(false);
                status = (int)response.StatusCode;
                error = null;
                responseBody = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                if (!RetryStatuses.Contains(status.Value)) break;
                retryAfter = response.Headers.RetryAfter?.Delta;
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                if (ct.IsCancellationRequested) { error = "emulator shutting down"; break; }
                status = null;
                error = e is OperationCanceledException ? $"Request timed out after {_options.WebhookTimeout.TotalSeconds:0.#}s" : e.Message;
            }
            if (attempt == _options.WebhookMaxRetries) break;
            var backoff = retryAfter ?? TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(60).Ticks, _options.WebhookBackoff.Ticks * (1L << attempt)));
            try { await Task.Delay(backoff, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }

        var delivery = new WebhookDelivery(target.WebhookId, target.Url, evt, deliveryId, timestamp, body, signature, status, error, attempts, isTest)
        {
            StartedAt = startedAt,
            AnsweredAt = DateTimeOffset.UtcNow,
        };
        lock (_deliveriesLock) _deliveries.Add(delivery);
        return (delivery, responseBody);
    }

    /// <summary>MLflow v1 signature: base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")) prefixed with "v1,".</summary>
    internal static string Sign(string secret, string deliveryId, string timestamp, string body)
    {
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{deliveryId}.{timestamp}.{body}"));
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>Cancels what is in flight (best effort, 2 s) and stops taking deliveries.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _shutdown.Cancel();
        try { await Task.WhenAll(_pending.Keys).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
        catch (Exception) { /* delivery failures are recorded, shutdown is best-effort */ }
        _client.Dispose();
        _shutdown.Dispose();
    }
}
