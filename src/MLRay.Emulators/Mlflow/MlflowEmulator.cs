using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Mlflow;

/// <summary>
/// In-process MLflow tracking server emulator: model registry REST (<c>/api/2.0/mlflow/...</c> and
/// <c>/ajax-api/2.0/mlflow/...</c>), runs/get, logged-models, the artifact proxy
/// (<c>/api/2.0/mlflow-artifacts/artifacts</c>), webhook management and signed webhook delivery,
/// all over real HTTP on 127.0.0.1 with MLflow's wire format.
/// </summary>
public sealed partial class MlflowEmulator : IAsyncDisposable
{
    private static readonly string[] ApiPrefixes = ["/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/2.0/preview/mlflow/"];
    private static readonly string[] ArtifactPrefixes = ["/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts"];
    private static readonly string[] RegisteredModelAttributes = ["name"];
    private static readonly string[] ModelVersionAttributes = ["name", "run_id", "source_path", "version_number"];

    /// <summary>The tracking server's state; the HTTP handlers and the seeding API below read and change it under its lock.</summary>
    private readonly MlflowRegistryStore _store = new();
    private readonly ConcurrentDictionary<Task, byte> _pendingDeliveries = new();
    private readonly SemaphoreSlim _deliveryWorkers;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly HttpClient _webhookClient = new(new SocketsHttpHandler { AllowAutoRedirect = true }) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly MlflowEmulatorOptions _options;
    private EmulatorHost? _host;
    private int _disposed;

    private MlflowEmulator(MlflowEmulatorOptions options)
    {
        _options = options;
        _deliveryWorkers = new SemaphoreSlim(Math.Max(1, options.WebhookDeliveryWorkers));
    }

    /// <summary>Starts an emulator on 127.0.0.1 with a free port.</summary>
    public static async Task<MlflowEmulator> StartAsync(MlflowEmulatorOptions? options = null, CancellationToken ct = default)
    {
        var emulator = new MlflowEmulator(options ?? new MlflowEmulatorOptions());
        emulator._host = await EmulatorHost.StartAsync("MLflow", emulator.MapRoutes, ct, emulator._options.Port).ConfigureAwait(false);
        return emulator;
    }

    /// <summary>Base address, e.g. <c>http://127.0.0.1:43121</c> (no trailing slash or path).</summary>
    public Uri BaseUri => _host!.BaseUri;

    /// <summary>Every request received, in arrival order, with the status returned.</summary>
    public IReadOnlyList<RecordedRequest> Requests => _host!.Requests;

    public MlflowFaults Faults { get; } = new();

    /// <summary>
    /// Requests per endpoint since request number <paramref name="since"/> (an earlier <c>Requests.Count</c>), for request
    /// budgets: <c>registered-models/search</c>, <c>model-versions/get</c>…, and <c>mlflow-artifacts</c> for every file download.
    /// </summary>
    public IReadOnlyDictionary<string, int> RequestCounts(int since = 0) =>
        Requests.Skip(since).GroupBy(r => EndpointOf(r.Path)).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary><c>/api/2.0/mlflow/model-versions/search</c> → <c>model-versions/search</c>; artifact downloads → <c>mlflow-artifacts</c>.</summary>
    public static string EndpointOf(string path)
    {
        foreach (var prefix in new[] { "/api/2.0/mlflow/", "/api/2.0/preview/mlflow/", "/ajax-api/2.0/mlflow/" })
            if (path.StartsWith(prefix, StringComparison.Ordinal)) return path[prefix.Length..];
        return path.StartsWith("/api/2.0/mlflow-artifacts/", StringComparison.Ordinal) ? "mlflow-artifacts" : path.TrimStart('/');
    }

    /// <summary>Completed webhook deliveries (one entry per event × webhook, after its retries).</summary>
    public IReadOnlyList<WebhookDelivery> WebhookDeliveries
    {
        get { lock (_store.Lock) return _store.Deliveries.ToArray(); }
    }

    // ------------------------------------------------------------------ seeding

    /// <summary>Creates a registered model (fires <c>registered_model.created</c>). Throws if it exists.</summary>
    public void CreateRegisteredModel(string name, IReadOnlyDictionary<string, string>? tags = null, string? description = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (_store.Lock)
        {
            if (_store.Models.ContainsKey(name)) throw new InvalidOperationException($"Registered Model (name={name}) already exists.");
            _store.CreateRegisteredModel(name, tags, description);
        }
        Fire("registered_model.created", new JsonObject
        {
            ["name"] = name,
            ["tags"] = TagsObject(tags),
            ["description"] = description,
        });
    }

    /// <summary>
    /// Creates the next version of <paramref name="name"/> (the registered model is created if missing) and fires
    /// <c>model_version.created</c>. Returns the version string ("1", "2", …). For a <c>models:/m-…</c> source the
    /// storage location defaults to the artifact URI of a logged model registered with <see cref="CreateLoggedModel"/>.
    /// </summary>
    public string CreateModelVersion(string name, string source, string? runId = null,
        IReadOnlyDictionary<string, string>? tags = null, string status = "READY", string? storageLocation = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(source);
        ModelVersion mv;
        var createdModel = false;
        lock (_store.Lock)
        {
            if (!_store.Models.TryGetValue(name, out var rm))
            {
                rm = _store.CreateRegisteredModel(name, null, null);
                createdModel = true;
            }
            mv = _store.CreateVersion(rm, source, runId, tags, status, storageLocation, null);
        }
        if (createdModel)
            Fire("registered_model.created", new JsonObject { ["name"] = name, ["tags"] = new JsonObject(), ["description"] = null });
        Fire("model_version.created", new JsonObject
        {
            ["name"] = name,
            ["version"] = mv.Version.ToString(CultureInfo.InvariantCulture),
            ["source"] = source,
            ["run_id"] = runId,
            ["tags"] = TagsObject(tags),
            ["description"] = null,
        });
        return mv.Version.ToString(CultureInfo.InvariantCulture);
    }

    public void SetRegisteredModelTag(string name, string key, string value)
    {
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            rm.Tags.Set(key, value);
            rm.LastUpdatedTimestamp = _store.Now();
        }
    }

    /// <summary>Sets a version tag (fires <c>model_version_tag.set</c>).</summary>
    public void SetModelVersionTag(string name, string version, string key, string value)
    {
        lock (_store.Lock)
        {
            var mv = _store.GetVersion(name, version);
            mv.Tags.Set(key, value);
            mv.LastUpdatedTimestamp = _store.Now();
        }
        Fire("model_version_tag.set", new JsonObject { ["name"] = name, ["version"] = version, ["key"] = key, ["value"] = value });
    }

    /// <summary>Points (or moves) an alias at a version (fires <c>model_version_alias.created</c>).</summary>
    public void SetAlias(string name, string alias, string version)
    {
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            var mv = _store.GetVersion(name, version);
            rm.SetAlias(alias, mv.Version);
            rm.LastUpdatedTimestamp = _store.Now();
        }
        Fire("model_version_alias.created", new JsonObject { ["name"] = name, ["alias"] = alias, ["version"] = version });
    }

    /// <summary>Deletes an alias (fires <c>model_version_alias.deleted</c>).</summary>
    public void DeleteAlias(string name, string alias)
    {
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            if (rm.RemoveAlias(alias)) rm.LastUpdatedTimestamp = _store.Now();
        }
        Fire("model_version_alias.deleted", new JsonObject { ["name"] = name, ["alias"] = alias });
    }

    /// <summary>Deletes a version and every alias pointing at it (MLflow ≥ 2.4; no event is fired, as in MLflow).</summary>
    public void DeleteModelVersion(string name, string version)
    {
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            var mv = _store.GetVersion(name, version);
            rm.Versions.Remove(mv.Version);
            rm.Aliases.RemoveAll(kv => kv.Value == mv.Version);
            rm.LastUpdatedTimestamp = _store.Now();
        }
    }

    public void DeleteRegisteredModel(string name)
    {
        lock (_store.Lock)
        {
            _store.GetModel(name);
            _store.Models.Remove(name);
        }
    }

    /// <summary>
    /// Stores a file for the artifact proxy. <paramref name="artifactUri"/> is <c>mlflow-artifacts:/&lt;path&gt;</c>,
    /// <c>mlflow-artifacts://host:port/&lt;path&gt;</c> or a bare relative path.
    /// </summary>
    public void PutArtifact(string artifactUri, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var key = ArtifactKeyFromUri(artifactUri)
            ?? (artifactUri.Contains(':') ? throw new ArgumentException($"Only mlflow-artifacts: URIs or relative paths are stored, got '{artifactUri}'.", nameof(artifactUri)) : artifactUri.Trim('/'));
        if (key.Length == 0) throw new ArgumentException("Artifact path is empty.", nameof(artifactUri));
        lock (_store.Lock) _store.Artifacts[key] = content.ToArray();
    }

    public void PutArtifact(string artifactUri, string text) => PutArtifact(artifactUri, Encoding.UTF8.GetBytes(text));

    /// <summary>Registers a run for <c>runs/get</c> and <c>artifacts/list</c>.</summary>
    public void CreateRun(string runId, string artifactUri)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        lock (_store.Lock) _store.Runs[runId] = artifactUri;
    }

    /// <summary>Registers an MLflow 3 logged model for <c>logged-models/{id}</c> and <c>models:/m-…</c> resolution.</summary>
    public void CreateLoggedModel(string modelId, string artifactUri)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelId);
        lock (_store.Lock) _store.LoggedModels[modelId] = artifactUri;
    }

    /// <summary>
    /// Registers a webhook without going through REST. <paramref name="events"/> are <c>entity.action</c>
    /// strings such as <c>model_version.created</c> (case-insensitive). Returns the webhook id.
    /// </summary>
    public string CreateWebhook(string name, string url, IEnumerable<string> events, string? secret = null, string? description = null)
    {
        var parsed = events.Select(e =>
        {
            var dot = e.IndexOf('.');
            if (dot <= 0) throw new ArgumentException($"Event '{e}' is not 'entity.action'.", nameof(events));
            var pair = (e[..dot].ToUpperInvariant(), e[(dot + 1)..].ToUpperInvariant());
            if (!ValidEvents.Contains(pair)) throw new ArgumentException($"Invalid event '{e}'.", nameof(events));
            return pair;
        }).ToList();
        return AddWebhook(name, url, parsed, secret, description, "ACTIVE").Id;
    }

    // ------------------------------------------------------------------ inspection

    public IReadOnlyDictionary<string, string> GetModelVersionTags(string name, string version)
    {
        lock (_store.Lock) return _store.GetVersion(name, version).Tags.ToDictionary();
    }

    /// <summary>Waits until no webhook delivery is in flight (or the timeout passes).</summary>
    public async Task WaitForWebhookDeliveriesAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_pendingDeliveries.IsEmpty && DateTime.UtcNow < deadline)
            await Task.Delay(20).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _shutdown.Cancel();
        try { await Task.WhenAll(_pendingDeliveries.Keys).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
        catch (Exception) { /* delivery failures are recorded, shutdown is best-effort */ }
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
        _webhookClient.Dispose();
        _shutdown.Dispose();
    }

    internal static string? ArtifactKeyFromUri(string uri)
    {
        const string scheme = "mlflow-artifacts:";
        if (!uri.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var rest = uri[scheme.Length..];
        if (rest.StartsWith("//", StringComparison.Ordinal))
        {
            var slash = rest.IndexOf('/', 2);
            rest = slash < 0 ? "" : rest[slash..];
        }
        return rest.Trim('/');
    }

    private static JsonObject TagsObject(IReadOnlyDictionary<string, string>? tags)
    {
        var o = new JsonObject();
        if (tags is not null)
            foreach (var kv in tags) o[kv.Key] = kv.Value;
        return o;
    }

    // ------------------------------------------------------------------ JSON shapes

    private static JsonObject VersionJson(RegisteredModel rm, ModelVersion mv, bool includeAliases)
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
        if (mv.Tags.Count > 0) o["tags"] = mv.Tags.ToJson();
        if (includeAliases)
        {
            var aliases = new JsonArray();
            foreach (var kv in rm.Aliases)
                if (kv.Value == mv.Version) aliases.Add(kv.Key);
            if (aliases.Count > 0) o["aliases"] = aliases;
        }
        if (mv.ModelId is not null) o["model_id"] = mv.ModelId;
        return o;
    }

    private static JsonObject ModelJson(RegisteredModel rm)
    {
        var o = new JsonObject
        {
            ["name"] = rm.Name,
            ["creation_timestamp"] = rm.CreationTimestamp,
            ["last_updated_timestamp"] = rm.LastUpdatedTimestamp,
        };
        if (rm.Description is not null) o["description"] = rm.Description;
        var latest = LatestPerStage(rm, null);
        if (latest.Count > 0)
        {
            var a = new JsonArray();
            foreach (var mv in latest) a.Add(VersionJson(rm, mv, includeAliases: false));
            o["latest_versions"] = a;
        }
        if (rm.Tags.Count > 0) o["tags"] = rm.Tags.ToJson();
        if (rm.Aliases.Count > 0)
        {
            var a = new JsonArray();
            foreach (var kv in rm.Aliases)
                a.Add(new JsonObject { ["alias"] = kv.Key, ["version"] = kv.Value.ToString(CultureInfo.InvariantCulture) });
            o["aliases"] = a;
        }
        return o;
    }

    private static List<ModelVersion> LatestPerStage(RegisteredModel rm, IReadOnlyCollection<string>? stages)
    {
        var result = new List<ModelVersion>();
        foreach (var group in rm.Versions.Values.GroupBy(v => v.CurrentStage))
        {
            if (stages is { Count: > 0 } && !stages.Contains(group.Key, StringComparer.OrdinalIgnoreCase)) continue;
            result.Add(group.MaxBy(v => v.Version)!);
        }
        return result.OrderBy(v => v.Version).ToList();
    }

    [GeneratedRegex(@"^[\w\-]*$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex(@"^v\d+$", RegexOptions.IgnoreCase)]
    private static partial Regex ReservedVersionAlias();
}
