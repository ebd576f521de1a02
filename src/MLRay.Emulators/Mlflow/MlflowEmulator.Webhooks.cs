using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Mlflow;

public sealed partial class MlflowEmulator
{
    private static readonly HashSet<(string Entity, string Action)> ValidEvents =
    [
        ("REGISTERED_MODEL", "CREATED"),
        ("MODEL_VERSION", "CREATED"),
        ("MODEL_VERSION_TAG", "SET"), ("MODEL_VERSION_TAG", "DELETED"),
        ("MODEL_VERSION_ALIAS", "CREATED"), ("MODEL_VERSION_ALIAS", "DELETED"),
        ("PROMPT", "CREATED"),
        ("PROMPT_VERSION", "CREATED"),
        ("PROMPT_TAG", "SET"), ("PROMPT_TAG", "DELETED"),
        ("PROMPT_VERSION_TAG", "SET"), ("PROMPT_VERSION_TAG", "DELETED"),
        ("PROMPT_ALIAS", "CREATED"), ("PROMPT_ALIAS", "DELETED"),
    ];

    private static readonly HashSet<string> KnownEntities = ValidEvents.Select(e => e.Entity).Append("BUDGET_POLICY").ToHashSet();
    private static readonly HashSet<string> KnownActions = ["CREATED", "UPDATED", "DELETED", "SET", "EXCEEDED"];
    private static readonly int[] RetryStatuses = [429, 500, 502, 503, 504];

    [GeneratedRegex("^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex WebhookNamePattern();

    /// <summary>Queues deliveries of one event to every ACTIVE webhook subscribed to it (fire-and-forget, like MLflow).</summary>
    private void Fire(string evt, JsonObject data)
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        var dot = evt.IndexOf('.');
        var key = (evt[..dot].ToUpperInvariant(), evt[(dot + 1)..].ToUpperInvariant());
        List<(string Id, string Url, string? Secret)> targets;
        lock (_store.Lock)
        {
            targets = _store.Webhooks
                .Where(h => !h.Deleted && h.Status == "ACTIVE" && h.Events.Contains(key))
                .Select(h => (h.Id, h.Url, h.Secret))
                .ToList();
        }
        foreach (var target in targets)
        {
            var payload = (JsonObject)data.DeepClone();
            var task = Task.Run(async () =>
            {
                // MLflow delivers on a thread pool of MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS (10) senders.
                await _deliveryWorkers.WaitAsync(_shutdown.Token).ConfigureAwait(false);
                try { return await DeliverAsync(target.Id, target.Url, target.Secret, evt, payload, isTest: false).ConfigureAwait(false); }
                finally { _deliveryWorkers.Release(); }
            });
            _pendingDeliveries.TryAdd(task, 0);
            task.ContinueWith(t => _pendingDeliveries.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task<(WebhookDelivery Delivery, string? ResponseBody)> DeliverAsync(string webhookId, string url, string? secret, string evt, JsonObject data, bool isTest)
    {
        var dot = evt.IndexOf('.');
        var envelope = new JsonObject
        {
            ["entity"] = evt[..dot],
            ["action"] = evt[(dot + 1)..],
            ["timestamp"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture),
            ["data"] = data,
        };
        var body = Py.JsonDumps(envelope);
        var startedAt = DateTimeOffset.UtcNow;
        var deliveryId = Guid.NewGuid().ToString();
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = secret is null ? null : Sign(secret, deliveryId, timestamp, body);

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
                using var request = new HttpRequestMessage(HttpMethod.Post, url);
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
                using var response = await _webhookClient.SendAsync(request, timeout.Token).ConfigureAwait(false);
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

        var delivery = new WebhookDelivery(webhookId, url, evt, deliveryId, timestamp, body, signature, status, error, attempts, isTest)
        {
            StartedAt = startedAt,
            AnsweredAt = DateTimeOffset.UtcNow,
        };
        lock (_store.Lock) _store.Deliveries.Add(delivery);
        return (delivery, responseBody);
    }

    /// <summary>MLflow v1 signature: base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")) prefixed with "v1,".</summary>
    internal static string Sign(string secret, string deliveryId, string timestamp, string body)
    {
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{deliveryId}.{timestamp}.{body}"));
        return "v1," + Convert.ToBase64String(mac);
    }

    // ------------------------------------------------------------------ REST

    private List<(string Entity, string Action)> ParseEvents(JsonNode? node, bool required)
    {
        if (node is null)
        {
            if (required) throw Missing("events");
            return [];
        }
        if (node is not JsonArray a) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "'events' must be a list.");
        if (a.Count == 0 && required) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Webhook events cannot be empty.");
        var result = new List<(string, string)>();
        foreach (var item in a)
        {
            var entity = Json.AsString(item?["entity"]) ?? "";
            var action = Json.AsString(item?["action"]) ?? "";
            if (!KnownEntities.Contains(entity) || !KnownActions.Contains(action))
                throw new MlflowError(500, "INTERNAL_ERROR", $"Invalid webhook event: entity={(entity.Length == 0 ? "ENTITY_UNSPECIFIED" : entity)}, action={(action.Length == 0 ? "ACTION_UNSPECIFIED" : action)}. Unknown enum values map to *_UNSPECIFIED.");
            if (!ValidEvents.Contains((entity, action)))
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid action '{action.ToLowerInvariant()}' for entity '{entity.ToLowerInvariant()}'.");
            if (!result.Contains((entity, action))) result.Add((entity, action));
        }
        return result;
    }

    private static void ValidateWebhookUrl(string url)
    {
        if (url.Length > 500) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Webhook URL exceeds the maximum length of 500 characters.");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid webhook URL: '{url}'. A hostname is required.");
        if (uri.Scheme is not ("http" or "https"))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid webhook URL scheme: '{uri.Scheme}'. Allowed schemes are: http, https.");
    }

    private static void ValidateWebhookName(string name)
    {
        if (!WebhookNamePattern().IsMatch(name))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE",
                $"Invalid webhook name '{name}'. Name must be 1-63 characters, start and end with a letter or digit, and contain only letters, digits, '.', '_' or '-'.");
    }

    private Webhook GetWebhookOrThrow(string id)
    {
        var hook = _store.Webhooks.FirstOrDefault(h => h.Id == id && !h.Deleted);
        return hook ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Webhook with ID {id} not found.");
    }

    private JsonNode CreateWebhookRest(Params p)
    {
        var name = p.Required("name");
        var url = p.Required("url");
        var events = ParseEvents(p.Node("events"), required: true);
        ValidateWebhookName(name);
        ValidateWebhookUrl(url);
        var status = p.Get("status") ?? "ACTIVE";
        if (status is not ("ACTIVE" or "DISABLED"))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid webhook status '{status}'.");
        var hook = AddWebhook(name, url, events, string.IsNullOrEmpty(p.Get("secret")) ? null : p.Get("secret"), p.Get("description"), status);
        return new JsonObject { ["webhook"] = hook.ToJson() };
    }

    /// <summary>Stores a new webhook; shared by the REST handler and the in-process <see cref="CreateWebhook"/>.</summary>
    private Webhook AddWebhook(string name, string url, List<(string Entity, string Action)> events, string? secret, string? description, string status)
    {
        lock (_store.Lock)
        {
            var now = _store.Now();
            var hook = new Webhook
            {
                Id = Guid.NewGuid().ToString("N"),
                Name = name,
                Url = url,
                Events = events,
                Description = description,
                Secret = secret,
                Status = status,
                CreationTimestamp = now,
                LastUpdatedTimestamp = now,
            };
            _store.Webhooks.Add(hook);
            return hook;
        }
    }

    private JsonNode ListWebhooksRest(Params p)
    {
        var maxResults = p.MaxResults(defaultValue: 100, limit: 1000);
        var offset = ParsePageToken(p.Get("page_token"));
        lock (_store.Lock)
        {
            var live = _store.Webhooks.Where(h => !h.Deleted).ToList();
            return Page(live, offset, maxResults, "webhooks", h => h.ToJson());
        }
    }

    private JsonNode GetWebhookRest(string id)
    {
        lock (_store.Lock) return new JsonObject { ["webhook"] = GetWebhookOrThrow(id).ToJson() };
    }

    private JsonNode UpdateWebhookRest(string id, Params p)
    {
        var name = p.Get("name");
        var url = p.Get("url");
        var events = ParseEvents(p.Node("events"), required: false);
        var status = p.Get("status");
        if (!string.IsNullOrEmpty(name)) ValidateWebhookName(name);
        if (!string.IsNullOrEmpty(url)) ValidateWebhookUrl(url);
        if (!string.IsNullOrEmpty(status) && status is not ("ACTIVE" or "DISABLED"))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid webhook status '{status}'.");
        lock (_store.Lock)
        {
            var hook = GetWebhookOrThrow(id);
            // MLflow treats empty strings as "unchanged" (x or None).
            if (!string.IsNullOrEmpty(name)) hook.Name = name;
            if (!string.IsNullOrEmpty(p.Get("description"))) hook.Description = p.Get("description");
            if (!string.IsNullOrEmpty(url)) hook.Url = url;
            if (events.Count > 0) hook.Events = events;
            if (!string.IsNullOrEmpty(p.Get("secret"))) hook.Secret = p.Get("secret");
            if (!string.IsNullOrEmpty(status)) hook.Status = status;
            hook.LastUpdatedTimestamp = _store.Now();
            return new JsonObject { ["webhook"] = hook.ToJson() };
        }
    }

    private JsonNode DeleteWebhookRest(string id)
    {
        lock (_store.Lock)
        {
            var hook = GetWebhookOrThrow(id);
            hook.Deleted = true;
        }
        return new JsonObject();
    }

    private async Task<JsonNode> TestWebhookRestAsync(string id, Params p)
    {
        string url;
        string? secret;
        (string Entity, string Action) evt;
        lock (_store.Lock)
        {
            var hook = GetWebhookOrThrow(id);
            url = hook.Url;
            secret = hook.Secret;
            evt = hook.Events[0];
        }
        if (p.Node("event") is JsonObject requested)
        {
            var parsed = ParseEvents(new JsonArray(requested.DeepClone()), required: true);
            evt = parsed[0];
        }
        var evtName = evt.Entity.ToLowerInvariant() + "." + evt.Action.ToLowerInvariant();
        var (delivery, responseBody) = await DeliverAsync(id, url, secret, evtName, ExamplePayload(evtName), isTest: true).ConfigureAwait(false);
        var result = new JsonObject { ["success"] = delivery.ResponseStatus is < 400 };
        if (delivery.ResponseStatus is { } s) result["response_status"] = s;
        if (responseBody is { Length: > 0 }) result["response_body"] = responseBody;
        if (delivery.Error is not null) result["error_message"] = delivery.Error;
        return new JsonObject { ["result"] = result };
    }

    private static JsonObject ExamplePayload(string evt)
    {
        var prompt = evt.StartsWith("prompt", StringComparison.Ordinal);
        var name = prompt ? "example_prompt" : "example_model";
        return evt switch
        {
            "registered_model.created" or "prompt.created" => new JsonObject
            {
                ["name"] = name,
                ["tags"] = new JsonObject { ["example_key"] = "example_value" },
                ["description"] = prompt ? "An example prompt" : "An example registered model",
            },
            "model_version.created" => new JsonObject
            {
                ["name"] = name,
                ["version"] = "1",
                ["source"] = "models:/123",
                ["run_id"] = "abcd1234abcd5678",
                ["tags"] = new JsonObject { ["example_key"] = "example_value" },
                ["description"] = "An example model version",
            },
            "prompt_version.created" => new JsonObject
            {
                ["name"] = name,
                ["version"] = "1",
                ["template"] = "Hello {{name}}!",
                ["tags"] = new JsonObject { ["example_key"] = "example_value" },
                ["description"] = "An example prompt version",
            },
            "model_version_tag.set" or "prompt_version_tag.set" => new JsonObject
                { ["name"] = name, ["version"] = "1", ["key"] = "example_key", ["value"] = "example_value" },
            "model_version_tag.deleted" or "prompt_version_tag.deleted" => new JsonObject
                { ["name"] = name, ["version"] = "1", ["key"] = "example_key" },
            "prompt_tag.set" => new JsonObject { ["name"] = name, ["key"] = "example_key", ["value"] = "example_value" },
            "prompt_tag.deleted" => new JsonObject { ["name"] = name, ["key"] = "example_key" },
            "model_version_alias.created" or "prompt_alias.created" => new JsonObject
                { ["name"] = name, ["alias"] = "example_alias", ["version"] = "1" },
            _ => new JsonObject { ["name"] = name, ["alias"] = "example_alias" },
        };
    }
}
