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

    // The two entities a search returns thousands of are written straight to UTF-8 (a page of 10,000 versions as a JsonNode
    // tree cost the emulator most of a warm 10,000-model reconcile); single answers parse what the same writer wrote.

    /// <summary>A <c>ModelVersion</c>; <c>aliases</c> only where MLflow sends them (get, not search or latest_versions).</summary>
    public static JsonObject ModelVersion(ModelVersionView mv, bool includeAliases) => Node(w => WriteModelVersion(w, mv, includeAliases));

    public static void WriteModelVersion(Utf8JsonWriter w, ModelVersionView mv, bool includeAliases)
    {
        w.WriteStartObject();
        w.WriteString("name", mv.Name);
        w.WriteString("version", mv.Version.ToString(CultureInfo.InvariantCulture));
        w.WriteNumber("creation_timestamp", mv.CreationTimestamp);
        w.WriteNumber("last_updated_timestamp", mv.LastUpdatedTimestamp);
        w.WriteString("current_stage", mv.CurrentStage);
        if (mv.Description is not null) w.WriteString("description", mv.Description);
        w.WriteString("source", mv.Source);
        if (mv.RunId is not null) w.WriteString("run_id", mv.RunId);
        w.WriteString("status", mv.Status);
        if (mv.StatusMessage is not null) w.WriteString("status_message", mv.StatusMessage);
        if (mv.Tags.Count > 0) WriteTags(w, mv.Tags);
        if (includeAliases && mv.Aliases.Count > 0)
        {
            w.WriteStartArray("aliases");
            foreach (var alias in mv.Aliases) w.WriteStringValue(alias);
            w.WriteEndArray();
        }
        if (mv.ModelId is not null) w.WriteString("model_id", mv.ModelId);
        w.WriteEndObject();
    }

    public static JsonObject RegisteredModel(RegisteredModelView rm) => Node(w => WriteRegisteredModel(w, rm));

    public static void WriteRegisteredModel(Utf8JsonWriter w, RegisteredModelView rm)
    {
        w.WriteStartObject();
        w.WriteString("name", rm.Name);
        w.WriteNumber("creation_timestamp", rm.CreationTimestamp);
        w.WriteNumber("last_updated_timestamp", rm.LastUpdatedTimestamp);
        if (rm.Description is not null) w.WriteString("description", rm.Description);
        if (rm.LatestVersions.Count > 0)
        {
            w.WriteStartArray("latest_versions");
            foreach (var mv in rm.LatestVersions) WriteModelVersion(w, mv, includeAliases: false);
            w.WriteEndArray();
        }
        if (rm.Tags.Count > 0) WriteTags(w, rm.Tags);
        if (rm.Aliases.Count > 0)
        {
            w.WriteStartArray("aliases");
            foreach (var (alias, version) in rm.Aliases)
            {
                w.WriteStartObject();
                w.WriteString("alias", alias);
                w.WriteString("version", version.ToString(CultureInfo.InvariantCulture));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
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

    /// <summary>One page, as UTF-8 JSON: the items under <paramref name="key"/> (omitted when empty) and <c>next_page_token</c> when more follow.</summary>
    public static byte[] Page<T>(RegistryPage<T> page, string key, Action<Utf8JsonWriter, T> item) => Write(w =>
    {
        w.WriteStartObject();
        if (page.Items.Count > 0)
        {
            w.WriteStartArray(key);
            foreach (var x in page.Items) item(w, x);
            w.WriteEndArray();
        }
        if (page.NextOffset is { } next) w.WriteString("next_page_token", CreatePageToken(next));
        w.WriteEndObject();
    });

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
    private static void WriteTags(Utf8JsonWriter w, IEnumerable<KeyValuePair<string, string>> tags)
    {
        w.WriteStartArray("tags");
        foreach (var (key, value) in tags)
        {
            w.WriteStartObject();
            w.WriteString("key", key);
            w.WriteString("value", value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>What <paramref name="write"/> writes, as UTF-8 JSON (escaped as the emulators' other answers are).</summary>
    private static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Json.Options.Encoder })) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    private static JsonObject Node(Action<Utf8JsonWriter> write) => JsonNode.Parse(Write(write))!.AsObject();

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
