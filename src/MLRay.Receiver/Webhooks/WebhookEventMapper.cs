using System.Text.Json;
using MLRay.Pipeline.Messages;

namespace MLRay.Receiver.Webhooks;

/// <summary>What to do with one webhook body.</summary>
public abstract record WebhookDecision
{
    /// <summary>Publish this hint.</summary>
    public sealed record Publish(RegistryChanged Message) : WebhookDecision;
    /// <summary>A well-formed event MLRay does not act on (answered 200 so MLflow does not retry).</summary>
    public sealed record Ignore(string Event, string Reason) : WebhookDecision;
    /// <summary>Not an MLflow envelope (answered 400).</summary>
    public sealed record Invalid(string Problem) : WebhookDecision;
}

/// <summary>
/// Maps an MLflow webhook envelope (contract §1.1–1.2) to a <see cref="RegistryChanged"/> hint, or says why not.
/// Pure: no I/O, no clock.
/// </summary>
public static class WebhookEventMapper
{
    /// <summary>Tag keys MLRay writes itself (status tags): their webhooks must not trigger a deploy (invariant 7).</summary>
    public const string OwnTagPrefix = "mlray.";

    private static readonly HashSet<string> ModelEvents =
    [
        "registered_model.created",
        "model_version.created",
        "model_version_alias.created", "model_version_alias.deleted",
        "model_version_tag.set", "model_version_tag.deleted",
    ];

    public static WebhookDecision Map(ReadOnlyMemory<byte> body, string deliveryId, string modelNameSuffix)
    {
        // JSON text is UTF-8 (RFC 8259); System.Text.Json parses other bytes inside strings and throws only on reading them.
        if (!System.Text.Unicode.Utf8.IsValid(body.Span)) return new WebhookDecision.Invalid("body is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64, AllowDuplicateProperties = false });
        }
        // InvalidOperationException: the duplicate check reads property names, and one escaping half a surrogate pair is no text.
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return new WebhookDecision.Invalid($"body is not valid JSON ({e.Message})");
        }
        using (document)
        {
            try
            {
                return MapEnvelope(document.RootElement, deliveryId, modelNameSuffix);
            }
            catch (EnvelopeException e)
            {
                return new WebhookDecision.Invalid(e.Message);
            }
        }
    }

    private static WebhookDecision MapEnvelope(JsonElement root, string deliveryId, string modelNameSuffix)
    {
        if (root.ValueKind != JsonValueKind.Object) return new WebhookDecision.Invalid("body is not a JSON object");
        var entity = RequiredString(root, "entity").ToLowerInvariant();
        var action = RequiredString(root, "action").ToLowerInvariant();
        var data = root.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object ? d
            : throw new EnvelopeException("envelope has no 'data' object");

        var evt = $"{entity}.{action}";
        if (entity.StartsWith("prompt", StringComparison.Ordinal))
            return new WebhookDecision.Ignore(evt, "prompt registry events are not deployed");
        if (!ModelEvents.Contains(evt))
            return new WebhookDecision.Ignore(evt, "not a model registry event MLRay acts on");

        var name = RequiredString(data, "name", "data.name", evt);
        if (IsPrompt(data))
            return new WebhookDecision.Ignore(evt, $"'{name}' is a prompt (tag mlflow.prompt.is_prompt=true)");
        if (!name.EndsWith(modelNameSuffix, StringComparison.Ordinal))
            return new WebhookDecision.Ignore(evt, $"'{name}' does not end with '{modelNameSuffix}'");

        string? alias = null;
        if (entity == "model_version_tag")
        {
            var key = RequiredString(data, "key", "data.key", evt);
            if (key.StartsWith(OwnTagPrefix, StringComparison.Ordinal))
                return new WebhookDecision.Ignore(evt, $"tag '{key}' is written by MLRay itself");
        }
        else if (entity == "model_version_alias")
            alias = RequiredString(data, "alias", "data.alias", evt);

        return new WebhookDecision.Publish(new RegistryChanged
        {
            RegisteredModel = name,
            Version = entity == "registered_model" ? null : Version(data, evt),
            Alias = alias,
            Reason = evt,
            DeliveryId = deliveryId,
        });
    }

    /// <summary>A field of the envelope has the wrong type or is missing; the message names it by its JSON path.</summary>
    private sealed class EnvelopeException(string problem) : Exception(problem);

    /// <summary>A non-empty string; <paramref name="path"/> names it in the problem (default: the envelope's own key).</summary>
    private static string RequiredString(JsonElement obj, string property, string? path = null, string? evt = null) =>
        OptionalString(obj, property, path ?? property, evt) is { Length: > 0 } value ? value
            : throw new EnvelopeException(evt is null ? $"envelope has no '{property}' string" : $"{evt}: {path} is missing (a string)");

    /// <summary>Null when absent or JSON null; anything but a string is a problem.</summary>
    private static string? OptionalString(JsonElement obj, string property, string path, string? evt) =>
        !obj.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? Text(value, path, evt)
        : throw new EnvelopeException($"{Prefix(evt)}{path} must be a string, not {Kind(value)}");

    /// <summary>MLflow sends <c>version</c> as a string; MLflow clients may send a whole number.</summary>
    private static string? Version(JsonElement data, string evt)
    {
        if (!data.TryGetProperty("version", out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => Text(value, "data.version", evt) is { Length: > 0 } s ? s : null,
            JsonValueKind.Number when value.TryGetInt64(out var n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
            JsonValueKind.Number => throw new EnvelopeException($"{evt}: data.version must be a string or a whole number, not a fraction or an out-of-range number"),
            _ => throw new EnvelopeException($"{evt}: data.version must be a string or a whole number, not {Kind(value)}"),
        };
    }

    /// <summary>Older 3.3/3.4 servers may send model events for prompts (contract §1.1).</summary>
    private static bool IsPrompt(JsonElement data)
    {
        if (!data.TryGetProperty("tags", out var tags) || tags.ValueKind == JsonValueKind.Null) return false;
        if (tags.ValueKind != JsonValueKind.Object)
            throw new EnvelopeException($"data.tags must be an object, not {Kind(tags)}");
        return OptionalString(tags, "mlflow.prompt.is_prompt", "data.tags[\"mlflow.prompt.is_prompt\"]", null) is { } flag
               && string.Equals(flag, "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A JSON string as text. Valid UTF-8 can still escape half a surrogate pair (<c>\ud800</c>), which is no text.</summary>
    private static string Text(JsonElement value, string path, string? evt)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new EnvelopeException($"{Prefix(evt)}{path} is not valid text (an unpaired UTF-16 surrogate escape)");
        }
    }

    private static string Prefix(string? evt) => evt is null ? "" : evt + ": ";

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        _ => "null",
    };
}
