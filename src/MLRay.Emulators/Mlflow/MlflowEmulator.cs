using System.Globalization;
using System.Text;
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

    /// <summary>The tracking server's state and every change to it; the REST handlers and the seeding API below both call it.</summary>
    private readonly MlflowRegistryStore _store;
    private readonly WebhookDispatcher _webhooks;
    private readonly MlflowEmulatorOptions _options;
    private EmulatorHost? _host;
    private int _disposed;

    private MlflowEmulator(MlflowEmulatorOptions options)
    {
        _options = options;
        _webhooks = new WebhookDispatcher(options);
        _store = new MlflowRegistryStore(_webhooks.Enqueue);
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

    /// <summary>How many requests <see cref="Requests"/> holds (cheap: for polling a registry of thousands of models).</summary>
    public int RequestCount => _host!.RequestCount;

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
    public IReadOnlyList<WebhookDelivery> WebhookDeliveries => _webhooks.Deliveries;

    // ------------------------------------------------------------------ seeding (the registry methods REST calls too)

    /// <summary>Creates a registered model (fires <c>registered_model.created</c>). Throws if it exists.</summary>
    public void CreateRegisteredModel(string name, IReadOnlyDictionary<string, string>? tags = null, string? description = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        try
        {
            _store.CreateRegisteredModel(name, tags, description);
        }
        catch (MlflowError e) when (e.ErrorCode == "RESOURCE_ALREADY_EXISTS")
        {
            throw new InvalidOperationException(e.Message, e); // what callers of the seeding API have always caught
        }
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
        var mv = _store.CreateModelVersion(name, source, runId, tags, description: null, status, storageLocation, createModelIfMissing: true);
        return mv.Version.ToString(CultureInfo.InvariantCulture);
    }

    public void SetRegisteredModelTag(string name, string key, string value) => _store.SetRegisteredModelTag(name, key, value);

    /// <summary>Sets a version tag (fires <c>model_version_tag.set</c>).</summary>
    public void SetModelVersionTag(string name, string version, string key, string value) => _store.SetModelVersionTag(name, version, key, value);

    /// <summary>Points (or moves) an alias at a version (fires <c>model_version_alias.created</c>).</summary>
    public void SetAlias(string name, string alias, string version) => _store.SetAlias(name, alias, version);

    /// <summary>Deletes an alias (fires <c>model_version_alias.deleted</c>).</summary>
    public void DeleteAlias(string name, string alias) => _store.DeleteAlias(name, alias);

    /// <summary>Deletes a version and every alias pointing at it (MLflow ≥ 2.4; no event is fired, as in MLflow).</summary>
    public void DeleteModelVersion(string name, string version) => _store.DeleteModelVersion(name, version);

    public void DeleteRegisteredModel(string name) => _store.DeleteRegisteredModel(name);

    /// <summary>
    /// Stores a file for the artifact proxy. <paramref name="artifactUri"/> is <c>mlflow-artifacts:/&lt;path&gt;</c>,
    /// <c>mlflow-artifacts://host:port/&lt;path&gt;</c> or a bare relative path.
    /// </summary>
    public void PutArtifact(string artifactUri, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var key = MlflowRegistryStore.ArtifactKeyFromUri(artifactUri)
            ?? (artifactUri.Contains(':') ? throw new ArgumentException($"Only mlflow-artifacts: URIs or relative paths are stored, got '{artifactUri}'.", nameof(artifactUri)) : artifactUri.Trim('/'));
        if (key.Length == 0) throw new ArgumentException("Artifact path is empty.", nameof(artifactUri));
        _store.PutArtifact(key, content.ToArray());
    }

    public void PutArtifact(string artifactUri, string text) => PutArtifact(artifactUri, Encoding.UTF8.GetBytes(text));

    /// <summary>Registers a run for <c>runs/get</c> and <c>artifacts/list</c>.</summary>
    public void CreateRun(string runId, string artifactUri)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        _store.CreateRun(runId, artifactUri);
    }

    /// <summary>Registers an MLflow 3 logged model for <c>logged-models/{id}</c> and <c>models:/m-…</c> resolution.</summary>
    public void CreateLoggedModel(string modelId, string artifactUri)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelId);
        _store.CreateLoggedModel(modelId, artifactUri);
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
        return _store.CreateWebhook(name, url, parsed, secret, description, "ACTIVE").Id;
    }

    // ------------------------------------------------------------------ inspection

    public IReadOnlyDictionary<string, string> GetModelVersionTags(string name, string version) =>
        _store.GetModelVersion(name, version).Tags.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    /// <summary>Waits until no webhook delivery is in flight (or the timeout passes).</summary>
    public Task WaitForWebhookDeliveriesAsync(TimeSpan timeout) => _webhooks.WaitForIdleAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _webhooks.DisposeAsync().ConfigureAwait(false);
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
    }
}
