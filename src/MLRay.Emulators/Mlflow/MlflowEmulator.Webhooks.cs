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

    [GeneratedRegex("^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex WebhookNamePattern();

    // ------------------------------------------------------------------ REST (parse, call the registry, serialize)

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
        var hook = _store.CreateWebhook(name, url, events, NullIfEmpty(p.Get("secret")), p.Get("description"), status);
        return MlflowWire.WebhookResponse(hook);
    }

    private JsonNode ListWebhooksRest(Params p)
    {
        var maxResults = p.MaxResults(defaultValue: 100, limit: 1000);
        var offset = MlflowWire.ParsePageToken(p.Get("page_token"));
        // A short list, and its endpoint also creates (a JsonNode answer): the page is read back.
        return JsonNode.Parse(MlflowWire.Page(_store.ListWebhooks(offset, maxResults), "webhooks", (w, hook) => MlflowWire.Webhook(hook).WriteTo(w)))!;
    }

    private JsonNode GetWebhookRest(string id) => MlflowWire.WebhookResponse(_store.GetWebhook(id));

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
        // MLflow treats empty strings (and an empty event list) as "unchanged" (x or None).
        var hook = _store.UpdateWebhook(id, new MlflowRegistryStore.WebhookUpdate(NullIfEmpty(name), NullIfEmpty(p.Get("description")),
            NullIfEmpty(url), events.Count > 0 ? events : null, NullIfEmpty(p.Get("secret")), NullIfEmpty(status)));
        return MlflowWire.WebhookResponse(hook);
    }

    private JsonNode DeleteWebhookRest(string id)
    {
        _store.DeleteWebhook(id);
        return new JsonObject();
    }

    /// <summary>Delivers an example payload now and answers with what the receiver said (no registry lock is held meanwhile).</summary>
    private async Task<JsonNode> TestWebhookRestAsync(string id, Params p)
    {
        var (target, evt) = _store.GetWebhookTarget(id);
        if (p.Node("event") is JsonObject requested)
            evt = ParseEvents(new JsonArray(requested.DeepClone()), required: true)[0];
        var evtName = evt.Entity.ToLowerInvariant() + "." + evt.Action.ToLowerInvariant();
        var (delivery, responseBody) = await _webhooks.DeliverAsync(target, evtName, MlflowWire.ExampleEventData(evtName), isTest: true).ConfigureAwait(false);
        return MlflowWire.TestResult(delivery, responseBody);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
