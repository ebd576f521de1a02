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
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return new WebhookDecision.Invalid("body is not valid JSON");
        }
        using (document)
            return Map(document.RootElement, deliveryId, modelNameSuffix);
    }

    public static WebhookDecision Map(JsonElement root, string deliveryId, string modelNameSuffix)
    {
        if (root.ValueKind != JsonValueKind.Object) return new WebhookDecision.Invalid("body is not a JSON object");
        if (String(root, "entity") is not { Length: > 0 } entity) return new WebhookDecision.Invalid("envelope has no 'entity' string");
        if (String(root, "action") is not { Length: > 0 } action) return new WebhookDecision.Invalid("envelope has no 'action' string");
        if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object)
            return new WebhookDecision.Invalid("envelope has no 'data' object");

        entity = entity.ToLowerInvariant();
        var evt = $"{entity}.{action.ToLowerInvariant()}";
        if (entity.StartsWith("prompt", StringComparison.Ordinal))
            return new WebhookDecision.Ignore(evt, "prompt registry events are not deployed");
        if (!ModelEvents.Contains(evt))
            return new WebhookDecision.Ignore(evt, "not a model registry event MLRay acts on");

        if (String(data, "name") is not { Length: > 0 } name) return new WebhookDecision.Invalid($"{evt}: data has no 'name' string");
        if (IsPrompt(data))
            return new WebhookDecision.Ignore(evt, $"'{name}' is a prompt (tag mlflow.prompt.is_prompt=true)");
        if (!name.EndsWith(modelNameSuffix, StringComparison.Ordinal))
            return new WebhookDecision.Ignore(evt, $"'{name}' does not end with '{modelNameSuffix}'");

        string? alias = null;
        if (entity == "model_version_tag")
        {
            if (String(data, "key") is not { Length: > 0 } key) return new WebhookDecision.Invalid($"{evt}: data has no 'key' string");
            if (key.StartsWith(OwnTagPrefix, StringComparison.Ordinal))
                return new WebhookDecision.Ignore(evt, $"tag '{key}' is written by MLRay itself");
        }
        else if (entity == "model_version_alias")
        {
            alias = String(data, "alias");
            if (string.IsNullOrEmpty(alias)) return new WebhookDecision.Invalid($"{evt}: data has no 'alias' string");
        }

        return new WebhookDecision.Publish(new RegistryChanged
        {
            RegisteredModel = name,
            Version = entity == "registered_model" ? null : Scalar(data, "version"),
            Alias = alias,
            Reason = evt,
            DeliveryId = deliveryId,
        });
    }

    private static string? String(JsonElement obj, string property) =>
        obj.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>MLflow sends <c>version</c> as a string; tolerate a number.</summary>
    private static string? Scalar(JsonElement obj, string property) =>
        !obj.TryGetProperty(property, out var value) ? null
        : value.ValueKind switch
        {
            JsonValueKind.String => value.GetString() is { Length: > 0 } s ? s : null,
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        };

    /// <summary>Older 3.3/3.4 servers may send model events for prompts (contract §1.1).</summary>
    private static bool IsPrompt(JsonElement data) =>
        data.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Object
        && String(tags, "mlflow.prompt.is_prompt") is { } flag
        && string.Equals(flag, "true", StringComparison.OrdinalIgnoreCase);
}
