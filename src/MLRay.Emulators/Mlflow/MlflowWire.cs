using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Mlflow;

/// <summary>
/// MLflow's wire shapes, each built in one place (contracts/mlflow.md): the REST entities, errors, pages and their
/// tokens, and the webhook payloads and envelope. Handlers and the webhook dispatcher serialize with these only.
/// Unset optional fields are omitted, as MLflow's protobuf-to-JSON does.
/// </summary>
internal static class MlflowWire
{
    // ------------------------------------------------------------------ REST entities

    /// <summary>A <c>ModelVersion</c>; <c>aliases</c> only where MLflow sends them (get, not search or latest_versions).</summary>
    public static JsonObject ModelVersion(ModelVersionView mv, bool includeAliases)
    {
        var o = new JsonObject
        {
            ["name"] = mv.Name,
            ["version"] = mv.Version.ToString(CultureInfo.InvariantCulture),
            ["creation_timestamp"] = mv.CreationTimestamp,
            ["last_updated_timestamp"] = mv.LastUpdatedTimestamp,
            ["current_stage"] = mv.CurrentStage,
        };
        if (mv.Description is not null) o["description"] = mv.Description;
        o["source"] = mv.Source;
        if (mv.RunId is not null) o["run_id"] = mv.RunId;
        o["status"] = mv.Status;
        if (mv.StatusMessage is not null) o["status_message"] = mv.StatusMessage;
        if (mv.Tags.Count > 0) o["tags"] = TagArray(mv.Tags);
        if (includeAliases && mv.Aliases.Count > 0) o["aliases"] = new JsonArray(mv.Aliases.Select(a => (JsonNode)a).ToArray());
        if (mv.ModelId is not null) o["model_id"] = mv.ModelId;
        return o;
    }

    public static JsonObject RegisteredModel(RegisteredModelView rm)
    {
        var o = new JsonObject
        {
            ["name"] = rm.Name,
            ["creation_timestamp"] = rm.CreationTimestamp,
            ["last_updated_timestamp"] = rm.LastUpdatedTimestamp,
        };
        if (rm.Description is not null) o["description"] = rm.Description;
        if (rm.LatestVersions.Count > 0) o["latest_versions"] = Array(rm.LatestVersions, mv => ModelVersion(mv, includeAliases: false));
        if (rm.Tags.Count > 0) o["tags"] = TagArray(rm.Tags);
        if (rm.Aliases.Count > 0)
            o["aliases"] = Array(rm.Aliases, kv => new JsonObject { ["alias"] = kv.Key, ["version"] = kv.Value.ToString(CultureInfo.InvariantCulture) });
        return o;
    }

    /// <summary>A <c>Webhook</c>; never its secret.</summary>
    public static JsonObject Webhook(WebhookView hook)
    {
        var o = new JsonObject { ["webhook_id"] = hook.Id, ["name"] = hook.Name };
        if (hook.Description is not null) o["description"] = hook.Description;
        o["url"] = hook.Url;
        o["events"] = Array(hook.Events, e => new JsonObject { ["entity"] = e.Entity, ["action"] = e.Action });
        o["status"] = hook.Status;
        o["creation_timestamp"] = hook.CreationTimestamp;
        o["last_updated_timestamp"] = hook.LastUpdatedTimestamp;
        return o;
    }

    /// <summary>The answer about one version (create, get, update, alias lookup): with its aliases.</summary>
    public static JsonObject ModelVersionResponse(ModelVersionView mv) => new() { ["model_version"] = ModelVersion(mv, includeAliases: true) };

    public static JsonObject RegisteredModelResponse(RegisteredModelView rm) => new() { ["registered_model"] = RegisteredModel(rm) };

    public static JsonObject WebhookResponse(WebhookView hook) => new() { ["webhook"] = Webhook(hook) };

    /// <summary><c>model-versions/get-download-uri</c>: where the version's files are.</summary>
    public static JsonObject DownloadUriResponse(ModelVersionView mv) => new() { ["artifact_uri"] = mv.ArtifactLocation };

    /// <summary><c>runs/get</c>'s <c>{"run": {...}}</c> for a finished run.</summary>
    public static JsonObject Run(string runId, string artifactUri) => new()
    {
        ["run"] = new JsonObject
        {
            ["info"] = new JsonObject
            {
                ["run_uuid"] = runId,
                ["experiment_id"] = ExperimentIdOf(artifactUri),
                ["status"] = "FINISHED",
                ["artifact_uri"] = artifactUri,
                ["lifecycle_stage"] = "active",
                ["run_id"] = runId,
            },
            ["data"] = new JsonObject(),
        },
    };

    /// <summary><c>logged-models/{id}</c>'s <c>{"model": {...}}</c> for a ready logged model.</summary>
    public static JsonObject LoggedModel(string modelId, string artifactUri) => new()
    {
        ["model"] = new JsonObject
        {
            ["info"] = new JsonObject
            {
                ["model_id"] = modelId,
                ["experiment_id"] = ExperimentIdOf(artifactUri),
                ["artifact_uri"] = artifactUri,
                ["status"] = "LOGGED_MODEL_READY",
                ["lifecycle_stage"] = "active",
            },
            ["data"] = new JsonObject(),
        },
    };

    /// <summary>A <c>FileInfo</c> of an artifact listing (<c>file_size</c> for files only).</summary>
    public static JsonObject FileInfo(string path, bool isDir, long size)
    {
        var o = new JsonObject { ["path"] = path, ["is_dir"] = isDir };
        if (!isDir) o["file_size"] = size;
        return o;
    }

    /// <summary>An artifact listing: <c>files</c> omitted when empty; <c>root_uri</c> first when given (runs' listing).</summary>
    public static JsonObject FileList(IEnumerable<JsonObject> files, string? rootUri = null)
    {
        var o = new JsonObject();
        if (rootUri is not null) o["root_uri"] = rootUri;
        var array = new JsonArray(files.Cast<JsonNode>().ToArray());
        if (array.Count > 0) o["files"] = array;
        return o;
    }

    // ------------------------------------------------------------------ errors and pages

    public static JsonObject Error(string errorCode, string message) => new() { ["error_code"] = errorCode, ["message"] = message };

    /// <summary>One page: the items under <paramref name="key"/> (omitted when empty) and <c>next_page_token</c> when more follow.</summary>
    public static JsonObject Page<T>(RegistryPage<T> page, string key, Func<T, JsonObject> item)
    {
        var o = new JsonObject();
        if (page.Items.Count > 0) o[key] = Array(page.Items, item);
        if (page.NextOffset is { } next) o["next_page_token"] = CreatePageToken(next);
        return o;
    }

    /// <summary>MLflow's token: base64 of <c>json.dumps({"offset": n})</c>.</summary>
    public static string CreatePageToken(int offset) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"offset\": " + offset.ToString(CultureInfo.InvariantCulture) + "}"));

    /// <summary>The offset in a page token (0 when none), or MLflow's 400 for a token it cannot read.</summary>
    public static int ParsePageToken(string? token)
    {
        if (string.IsNullOrEmpty(token)) return 0;
        byte[] decoded;
        try { decoded = Convert.FromBase64String(token); }
        catch (FormatException) { throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Invalid page token, could not base64-decode"); }
        try
        {
            var parsed = JsonNode.Parse(decoded);
            var offsetNode = parsed?["offset"];
            if (offsetNode is null) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid page token, parsed value={Encoding.UTF8.GetString(decoded)}");
            var offset = offsetNode.GetValueKind() == JsonValueKind.String
                ? int.Parse(offsetNode.GetValue<string>(), CultureInfo.InvariantCulture)
                : offsetNode.GetValue<int>();
            if (offset < 0) throw new FormatException();
            return offset;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid page token, decoded value={Encoding.UTF8.GetString(decoded)}");
        }
    }

    // ------------------------------------------------------------------ webhooks

    /// <summary>The delivered body: <c>{entity, action, timestamp, data}</c> as Python's <c>json.dumps</c> writes it.</summary>
    public static string Envelope(string evt, JsonObject data, DateTime utcNow)
    {
        var dot = evt.IndexOf('.');
        return Py.JsonDumps(new JsonObject
        {
            ["entity"] = evt[..dot],
            ["action"] = evt[(dot + 1)..],
            ["timestamp"] = utcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture),
            ["data"] = data,
        });
    }

    /// <summary>An event's <c>data</c> (contracts/mlflow.md §1.1): tags are an object here, not an array.</summary>
    public static JsonObject EventData(RegistryEvent evt) => evt switch
    {
        RegisteredModelCreated e => new JsonObject { ["name"] = e.Model, ["tags"] = TagObject(e.Tags), ["description"] = e.Description },
        ModelVersionCreated e => new JsonObject
        {
            ["name"] = e.Model,
            ["version"] = e.Version,
            ["source"] = e.Source,
            ["run_id"] = e.RunId,
            ["tags"] = TagObject(e.Tags),
            ["description"] = e.Description,
        },
        ModelVersionTagSet e => new JsonObject { ["name"] = e.Model, ["version"] = e.Version, ["key"] = e.Key, ["value"] = e.Value },
        ModelVersionTagDeleted e => new JsonObject { ["name"] = e.Model, ["version"] = e.Version, ["key"] = e.Key },
        ModelVersionAliasCreated e => new JsonObject { ["name"] = e.Model, ["alias"] = e.Alias, ["version"] = e.Version },
        ModelVersionAliasDeleted e => new JsonObject { ["name"] = e.Model, ["alias"] = e.Alias },
        _ => throw new ArgumentOutOfRangeException(nameof(evt), evt, "No payload for this event."),
    };

    /// <summary>The example <c>data</c> that <c>webhooks/{id}/test</c> sends (MLflow's <c>get_example_payload_for_event</c>).</summary>
    public static JsonObject ExampleEventData(string evt)
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

    /// <summary><c>webhooks/{id}/test</c>'s <c>{"result": {...}}</c>: unset fields omitted.</summary>
    public static JsonObject TestResult(WebhookDelivery delivery, string? responseBody)
    {
        var result = new JsonObject { ["success"] = delivery.ResponseStatus is < 400 };
        if (delivery.ResponseStatus is { } status) result["response_status"] = status;
        if (responseBody is { Length: > 0 }) result["response_body"] = responseBody;
        if (delivery.Error is not null) result["error_message"] = delivery.Error;
        return new JsonObject { ["result"] = result };
    }

    // ------------------------------------------------------------------ pieces

    /// <summary>Tags over REST: an array of <c>{key, value}</c>.</summary>
    private static JsonArray TagArray(IEnumerable<KeyValuePair<string, string>> tags) =>
        Array(tags, kv => new JsonObject { ["key"] = kv.Key, ["value"] = kv.Value });

    /// <summary>Tags in webhook payloads: an object.</summary>
    private static JsonObject TagObject(IEnumerable<KeyValuePair<string, string>> tags)
    {
        var o = new JsonObject();
        foreach (var kv in tags) o[kv.Key] = kv.Value;
        return o;
    }

    private static JsonArray Array<T>(IEnumerable<T> items, Func<T, JsonNode> item) => new(items.Select(item).ToArray());

    /// <summary>The experiment id a <c>mlflow-artifacts:/&lt;id&gt;/…</c> location starts with, else "0".</summary>
    private static string ExperimentIdOf(string artifactUri)
    {
        var first = MlflowRegistryStore.ArtifactKeyFromUri(artifactUri)?.Split('/')[0];
        return first is { Length: > 0 } && first.All(char.IsDigit) ? first : "0";
    }
}
