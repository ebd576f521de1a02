namespace MLRay.Emulators.Ray;

/// <summary>
/// Behaviour knobs of <see cref="RayDashboardEmulator"/>. Mutable at runtime; changes apply to requests and
/// status evaluations that happen afterwards.
/// </summary>
public sealed class RayEmulatorOptions
{
    /// <summary>The loopback port to listen on; 0 (default) takes a free one.</summary>
    public int Port { get; init; }

    /// <summary>The loopback port of the Serve HTTP proxy (the data plane; Ray's default is 8000); 0 (default) takes a free one.</summary>
    public int ServePort { get; init; }

    /// <summary>Node architecture: <c>x86_64</c> or <c>aarch64</c> (<c>amd64</c>/<c>arm64</c> are accepted as aliases).</summary>
    public string Architecture { get; set; } = "x86_64";

    /// <summary>Reported by <c>/api/ray/version</c>; also selects version-dependent behaviour
    /// (<c>source</c> field and imperative-app survival from 2.35, <c>api_type</c> filter from 2.50).</summary>
    public string RayVersion { get; set; } = "2.47.1";

    /// <summary>Cluster interpreter; informational (used in traceback paths).</summary>
    public string PythonVersion { get; set; } = "3.12.11";

    /// <summary>Pip requirement specs (<c>pkg==ver</c>, or just <c>pkg</c> for every version) that have no wheel on an architecture.</summary>
    public List<(string Requirement, string Architecture)> MissingWheels { get; } = new() { ("catboost==1.1", "aarch64") };

    /// <summary>Top-level modules importable on the cluster image.</summary>
    public HashSet<string> ImportableModules { get; } = new() { "mlray_serve" };

    /// <summary>Deployment names the builder of an <c>import_path</c> not in <see cref="DeploymentsByImportPath"/> creates.</summary>
    public HashSet<string> AvailableDeployments { get; } = new() { "MLflowModel" };

    /// <summary>Deployment names each builder creates, by <c>import_path</c>: MLRay's model app and its gateway.</summary>
    public Dictionary<string, HashSet<string>> DeploymentsByImportPath { get; } = new(StringComparer.Ordinal)
    {
        [ServeAppKinds.ModelImportPath] = new() { "MLflowModel" },
        [ServeAppKinds.GatewayImportPath] = new() { ServeAppKinds.GatewayDeployment },
    };

    /// <summary>Time an app spends DEPLOYING (build, or a deployment-only update) before its outcome shows; DELETING lasts as long.</summary>
    public TimeSpan BuildTime { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Extra install time per pip package name (normalised), added to <see cref="BuildTime"/> when an app's pip list names it ("slow installs").</summary>
    public Dictionary<string, TimeSpan> SlowPackages { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>When set, token auth mode: 401/403 text/plain without a valid <c>Authorization</c> or <c>X-Ray-Authorization: Bearer &lt;t&gt;</c>.</summary>
    public string? AuthToken { get; set; }

    /// <summary>The next N PUTs of <c>/api/serve/applications/</c> get 500 text (nothing applied).</summary>
    public int FailNextPuts { get; set; }

    /// <summary>The next N GETs of <c>/api/serve/applications/</c> get 503 "Failed to get a response from the controller...".</summary>
    public int FailNextGets { get; set; }

    /// <summary>The next N PUTs of <c>/api/serve/applications/</c> get the same 503 as <see cref="FailNextGets"/> (nothing applied), as
    /// while the controller restarts.</summary>
    public int UnavailableNextPuts { get; set; }

    /// <summary>When set, the injected 503s (<see cref="FailNextGets"/>, <see cref="UnavailableNextPuts"/>) carry <c>Retry-After</c>
    /// with this many whole seconds, as a proxy or load balancer in front of the dashboard may send.</summary>
    public TimeSpan? RetryAfter { get; set; }

    /// <summary>The next N requests (any route) have their connection aborted without a response.</summary>
    public int DropNextRequests { get; set; }

    /// <summary>The next N requests (any route) get no answer at all until the client gives up on them (a timeout).</summary>
    public int TimeOutNextRequests { get; set; }

    /// <summary>Added to every request.</summary>
    public TimeSpan ResponseDelay { get; set; }

    /// <summary>Cluster CPUs. Apps whose replicas do not fit stay DEPLOYING ("taken more than 30s to be scheduled").</summary>
    public double TotalCpus { get; set; } = 8;

    /// <summary>
    /// Clock behind every status transition and timestamp (transitions are evaluated lazily on each request
    /// against this clock). Swap in a manual <see cref="System.TimeProvider"/> for deterministic tests.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Cluster GPUs (default none): replicas asking for <c>num_gpus</c> beyond this never get scheduled.</summary>
    public double TotalGpus { get; set; }

    /// <summary>
    /// Behind every random choice of the data plane: the gateway's weighted draw and shadow fractions, and
    /// <see cref="PredictFault.Probability"/>. Seed one (<c>new Random(42)</c>) for repeatable tests; used under a lock.
    /// </summary>
    public Random ServeRandom { get; set; } = Random.Shared;

    /// <summary>How long the gateway waits for a version app's answer before answering 502 (Ray's handle calls have no
    /// deadline of their own; the gateway sets one).</summary>
    public TimeSpan GatewayCallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Model, string Version), PredictFault> _predictFaults = new();

    /// <summary>
    /// Makes every app serving <paramref name="model"/> version <paramref name="version"/> (its <c>args.mlray_model</c> and
    /// <c>args.mlray_version</c>, else its <c>models:/name/version</c> URI) answer with <paramref name="fault"/>: the direct-mode
    /// app and a gateway's version app alike. Replaces an earlier fault of that version.
    /// </summary>
    public void SetPredictFault(string model, string version, PredictFault fault) => _predictFaults[(model, version)] = fault;

    /// <summary>That version answers normally again.</summary>
    public void ClearPredictFault(string model, string version) => _predictFaults.TryRemove((model, version), out _);

    /// <summary>Every version answers normally again.</summary>
    public void ClearPredictFaults() => _predictFaults.Clear();

    /// <summary>The faults set now, by model and version.</summary>
    public IReadOnlyDictionary<(string Model, string Version), PredictFault> PredictFaults => new Dictionary<(string, string), PredictFault>(_predictFaults);

    internal PredictFault? PredictFaultOf(string? model, string? version) =>
        model is not null && version is not null && _predictFaults.TryGetValue((model, version), out var fault) ? fault : null;

    internal IReadOnlyCollection<string> DeploymentsOf(string? importPath) =>
        ServeAppKinds.Normalize(importPath) is { } path && DeploymentsByImportPath.TryGetValue(path, out var names) ? names : AvailableDeployments;

    /// <summary>Whether <see cref="RayVersion"/> is at least <paramref name="major"/>.<paramref name="minor"/> (an unreadable version counts as newest).</summary>
    internal bool RayVersionAtLeast(int major, int minor)
    {
        var parts = RayVersion.Split('.', '-', '+');
        if (parts.Length < 2 || !int.TryParse(parts[0], out var ma) || !int.TryParse(parts[1], out var mi)) return true;
        return ma > major || (ma == major && mi >= minor);
    }
}
