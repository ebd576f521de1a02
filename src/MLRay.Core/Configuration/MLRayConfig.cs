namespace MLRay.Configuration;

/// <summary>The whole of <c>config.yml</c>, validated. A superset of the seed's file.</summary>
public sealed record MLRayConfig
{
    /// <summary>Where desired Serve configs are saved (<c>mlray.working_dir</c>, default <see cref="DefaultWorkingDir"/>), relative to the current directory.</summary>
    public required string WorkingDir { get; init; }
    public const string DefaultWorkingDir = ".mlray";
    /// <summary><c>mlray.artifact_cache</c>: keep model versions' environment files under <c>&lt;working_dir&gt;/artifact-cache</c>.</summary>
    public bool ArtifactCache { get; init; } = DefaultArtifactCache;
    public const bool DefaultArtifactCache = true;
    public string? ArtifactCacheDir => ArtifactCache ? Path.Combine(WorkingDir, "artifact-cache") : null;
    public required MlflowSettings Mlflow { get; init; }
    public required IReadOnlyList<RayClusterConfig> Clusters { get; init; }
    public PipelineSettings Pipeline { get; init; } = new();
    /// <summary>Where the wheel pre-flight looks packages up (<c>package_index</c>).</summary>
    public PackageIndexSettings PackageIndex { get; init; } = new();

    /// <summary>The cluster named <paramref name="name"/>, or null; <see cref="GetCluster"/> when an unknown name is an error.</summary>
    public RayClusterConfig? FindCluster(string name) =>
        Clusters.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.Ordinal));

    /// <summary>
    /// The cluster named <paramref name="name"/>, else the one "no cluster named" error, a <see cref="ConfigException"/> on
    /// <c>ray_clusters</c> whose <see cref="ConfigException.Problem"/> lists the configured names: every caller (the CLI, the
    /// worker, the ops API, the dead-letter operations) reports an unknown cluster with the same words.
    /// </summary>
    public RayClusterConfig GetCluster(string name) => FindCluster(name)
        ?? throw new ConfigException("ray_clusters", $"no cluster named '{name}' (configured: {string.Join(", ", Clusters.Select(c => c.Name))})");
}

public sealed record MlflowSettings
{
    /// <summary>The tracking URI MLRay itself talks to (<c>mlflow.tracking_uri</c>, else <c>MLFLOW_TRACKING_URI</c>).</summary>
    public required Uri TrackingUri { get; init; }
    /// <summary>Where <see cref="TrackingUri"/> came from, for messages: <c>mlflow.tracking_uri</c> or <c>MLFLOW_TRACKING_URI</c>.</summary>
    public string TrackingUriKey { get; init; } = "mlflow.tracking_uri";
    /// <summary>Registered models whose name ends with this are selected (seed: <c>.staging</c>).</summary>
    public string ModelNameSuffix { get; init; } = DefaultModelNameSuffix;
    public const string DefaultModelNameSuffix = ".staging";
    /// <summary>When set, the version this alias points to is deployed instead of the latest READY one.</summary>
    public string? Alias { get; init; }
    /// <summary>
    /// <c>mlflow.challenger_alias</c>: the version this alias points to is deployed beside the served one (gateway clusters),
    /// smoke-tested, and takes <c>ray.challenger.weight</c> percent of the route or a <c>ray.challenger.shadow</c> copy.
    /// </summary>
    public string? ChallengerAlias { get; init; }
    public MlflowCredentials Credentials { get; init; } = MlflowCredentials.None;
    public S3Settings S3 { get; init; } = new();
}

/// <summary>Basic or bearer credentials for the tracking server, from the environment (never from the file).</summary>
public sealed record MlflowCredentials(string? Username, string? Password, string? Token)
{
    public static readonly MlflowCredentials None = new(null, null, null);
    public override string ToString() => "MlflowCredentials(***)";
}

/// <summary>S3 access for <c>s3://</c> artifact locations (MLflow's own variables).</summary>
public sealed record S3Settings
{
    public string? EndpointUrl { get; init; }
    public string? AccessKeyId { get; init; }
    public string? SecretAccessKey { get; init; }
    /// <summary><c>AWS_REGION</c>, else <c>AWS_DEFAULT_REGION</c>, else <see cref="DefaultRegion"/>.</summary>
    public string Region { get; init; } = DefaultRegion;
    public const string DefaultRegion = "us-east-1";
    public bool IgnoreTls { get; init; }
    public override string ToString() => $"S3Settings(EndpointUrl={EndpointUrl}, Region={Region})";
}

public sealed record RayClusterConfig
{
    public required string Name { get; init; }
    /// <summary>'3.9' matches any 3.9.x model; '3.9.22' matches exactly.</summary>
    public required PythonVersionSpec PythonVersion { get; init; }
    public required Uri DashboardAddress { get; init; }
    /// <summary>The tracking URI the Ray replicas use to load models (may differ from MLRay's own).</summary>
    public required Uri MlflowTrackingUri { get; init; }
    public IReadOnlyDictionary<string, string> EnvVars { get; init; } = new Dictionary<string, string>();
    /// <summary>Pins added to every model's pip list unless the model already names the package.</summary>
    public IReadOnlyList<string> ExtraPip { get; init; } = [];
    /// <summary>Name of the environment variable holding the Ray dashboard token (Ray ≥ 2.52 token auth).</summary>
    public string? AuthTokenEnv { get; init; }
    public TimeSpan DeployTimeout { get; init; } = DefaultDeployTimeout;
    public static readonly TimeSpan DefaultDeployTimeout = TimeSpan.FromMinutes(10);
    /// <summary>Install retries on this cluster (<c>retry</c> under the cluster, else the top-level <c>retry</c>).</summary>
    public RetrySettings Retry { get; init; } = new();
    /// <summary>Where clients reach the cluster's Serve HTTP proxy (<c>serve_address</c>; default: dashboard host, port 8000).</summary>
    public Uri? ServeAddress { get; init; }

    /// <summary><c>platform: linux/&lt;arch&gt;</c> of the Ray nodes, as the wheel tag spells the architecture (<c>x86_64</c>, <c>aarch64</c>).</summary>
    public string Architecture { get; init; } = DefaultArchitecture;
    public const string DefaultArchitecture = "x86_64";
    /// <summary><c>libc</c> of the Ray nodes; default glibc 2.36, Debian bookworm's, under the python:3.9.22-slim / 3.12.11-slim images.</summary>
    public LibcVersion Libc { get; init; } = LibcVersion.Default;
    /// <summary><c>preflight</c>: what a pre-flight "no" does on this cluster.</summary>
    public PreflightMode Preflight { get; init; } = DefaultPreflight;
    public const PreflightMode DefaultPreflight = PreflightMode.Block;

    /// <summary>Smoke test, traffic layout, gateway and rollouts (docs/serving.md).</summary>
    public ServingSettings Serving { get; init; } = new();

    /// <summary>What <c>mlray render kuberay</c> puts around the Serve config (<c>kuberay</c>).</summary>
    public KubeRaySettings KubeRay { get; init; } = new();

    public Uri EffectiveServeAddress => ServeAddress ?? new UriBuilder(DashboardAddress) { Port = DefaultServePort, Path = "/" }.Uri;
    /// <summary>Ray Serve's HTTP proxy port unless told otherwise (the default <c>serve_address</c>, and the head pod's <c>serve</c> port in <c>mlray render kuberay</c>).</summary>
    public const int DefaultServePort = 8000;

    /// <summary>
    /// The one message of an app that did not reach RUNNING within <c>deploy_timeout</c> (the one-shot deploy's and the worker's),
    /// with Ray's last status and message.
    /// </summary>
    public static string StillPendingAfter(TimeSpan deployTimeout, string rayStatus, string? rayMessage) =>
        $"still {rayStatus} after {deployTimeout} (deploy_timeout). Ray's last message: {rayMessage}".TrimEnd(' ', ':');
}

/// <summary>The event pipeline: broker, webhook secret source, resync period (sections <c>rabbitmq</c> and <c>receiver</c>).</summary>
public sealed record PipelineSettings
{
    /// <summary>
    /// The broker's nodes, in the order clients try them (<see cref="RabbitMqNodes"/>): <c>rabbitmq.uris</c>, or
    /// <c>rabbitmq.uri</c> (one URI, or several separated by commas), default <c>RABBITMQ_URI</c> (the same forms) or
    /// <see cref="DefaultRabbitMqUri"/>. One vhost and one set of credentials for all.
    /// </summary>
    public IReadOnlyList<Uri> RabbitMqUris { get; init; } = [new(DefaultRabbitMqUri)];
    /// <summary>The first node: what a caller that takes one broker URI uses. Setting it configures a one-node broker.</summary>
    public Uri RabbitMqUri { get => RabbitMqUris[0]; init => RabbitMqUris = [value]; }
    /// <summary>RabbitMQ's own default: the guest user on the local broker (loopback: guest may log in only from there).</summary>
    public const string DefaultRabbitMqUri = "amqp://guest:guest@127.0.0.1:5672/";
    /// <summary>Where <see cref="RabbitMqUris"/> came from, for messages: <c>rabbitmq.uri</c>, <c>rabbitmq.uris</c>, <c>RABBITMQ_URI</c> or the default.</summary>
    public string RabbitMqUriKey { get; init; } = "rabbitmq.uri";

    /// <summary>The variable <c>rabbitmq.uri</c> defaults to.</summary>
    public const string RabbitMqUriVariable = "RABBITMQ_URI";

    /// <summary><see cref="RabbitMqUriVariable"/> when set, else <see cref="DefaultRabbitMqUri"/>.</summary>
    public static string RabbitMqUriFrom(IEnvironment env) => env.Get(RabbitMqUriVariable) ?? DefaultRabbitMqUri;
    /// <summary>Where the webhook secret comes from (<c>receiver.webhook_secret_env</c> or <c>receiver.webhook_secret_file</c>); null = none configured.</summary>
    public SecretSource? WebhookSecretSource { get; init; }
    /// <summary>
    /// The webhook secret, read from <see cref="WebhookSecretSource"/> now (a <see cref="ConfigException"/> naming the key and the
    /// variable or file when it is unset, missing or empty); null = none configured. Only the receiver and <c>mlray webhook register</c> need it.
    /// </summary>
    public string? WebhookSecret
    {
        get => WebhookSecretSource?.Read();
        init => WebhookSecretSource = value is null ? null : SecretSource.Of(value);
    }
    /// <summary><c>receiver.allow_unsigned</c>: without a secret the receiver starts only when this says so on purpose.</summary>
    public bool AllowUnsignedWebhooks { get; init; }
    /// <summary>Where the ops API's bearer token comes from (<c>receiver.ops_token_env</c> or <c>_file</c>); null = ops API off.</summary>
    public SecretSource? OpsTokenSource { get; init; }
    /// <summary>The bearer token of the receiver's ops API, read from <see cref="OpsTokenSource"/> now (as <see cref="WebhookSecret"/>); null = ops API off. Never logged.</summary>
    public string? OpsToken
    {
        get => OpsTokenSource?.Read();
        init => OpsTokenSource = value is null ? null : SecretSource.Of(value);
    }
    /// <summary>How often every selected model is re-announced (<c>receiver.resync_interval</c>), catching lost webhooks.</summary>
    public TimeSpan ResyncInterval { get; init; } = DefaultResyncInterval;
    public static readonly TimeSpan DefaultResyncInterval = TimeSpan.FromMinutes(5);
    /// <summary>How long a delivery id is remembered (<c>receiver.dedup_window</c>).</summary>
    public TimeSpan DedupWindow { get; init; } = DefaultDedupWindow;
    public static readonly TimeSpan DefaultDedupWindow = TimeSpan.FromMinutes(10);

    // The sources, not the secrets: printing the settings must neither show nor need them.
    public override string ToString() => $"PipelineSettings(RabbitMqUris={RedactedRabbitMqUris}, WebhookSecret={(WebhookSecretSource is null ? "none" : "***")}, OpsToken={(OpsTokenSource is null ? "none" : "***")}, ResyncInterval={ResyncInterval})";

    /// <summary>The first node's URI without its password, for logs.</summary>
    public string RedactedRabbitMqUri => RabbitMqNodes.Redacted(RabbitMqUri);
    /// <summary>Every node's URI without its password, comma-separated, for logs.</summary>
    public string RedactedRabbitMqUris => string.Join(",", RabbitMqUris.Select(RabbitMqNodes.Redacted));
}

/// <summary>
/// How often a model version Ray could not install or start is tried on a cluster, and how long to wait between
/// attempts (<c>delays[i]</c> after failed attempt i+1; the last delay repeats). Transient errors have their own
/// short schedule and do not count.
/// </summary>
public sealed record RetrySettings
{
    public int Attempts { get; init; } = 3;
    public IReadOnlyList<TimeSpan> Delays { get; init; } = [TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15)];

    public TimeSpan DelayAfter(int failedAttempts) => Delays[Math.Clamp(failedAttempts - 1, 0, Delays.Count - 1)];
}

/// <summary>
/// Per-cluster settings of the KubeRay <c>RayService</c> that <c>mlray render kuberay</c> writes (<c>kuberay</c>).
/// Resources are Kubernetes quantities; requests equal limits, as Ray advises for its pods.
/// </summary>
public sealed record KubeRaySettings
{
    /// <summary>The Ray version MLRay's images pin (docker/ray-serve-py*.Dockerfile); a RayService's rayVersion must match its image.</summary>
    public const string DefaultRayVersion = "2.47.1";

    /// <summary>The head and worker image (<c>kuberay.image</c>); required to render, since it must carry mlray_serve and the cluster's exact Python.</summary>
    public string? Image { get; init; }
    public string RayVersion { get; init; } = DefaultRayVersion;
    public PodResources Head { get; init; } = new("2", "4Gi");
    public WorkerGroup Workers { get; init; } = new();
}

public sealed record PodResources(string Cpu, string Memory);

public sealed record WorkerGroup
{
    public int Replicas { get; init; } = 1;
    public int MinReplicas { get; init; } = 1;
    public int MaxReplicas { get; init; } = 1;
    public PodResources Resources { get; init; } = new("2", "4Gi");
}

/// <summary>What the wheel pre-flight's "no" does on a cluster (<c>preflight</c>).</summary>
public enum PreflightMode
{
    /// <summary>A model pip cannot install is dead-lettered at once, as a permanent failure: nothing reaches Ray.</summary>
    Block,
    /// <summary>It is deployed anyway; the verdict is recorded in its <c>mlray.&lt;cluster&gt;.preflight</c> tag.</summary>
    Warn,
    /// <summary>No check, no index request.</summary>
    Off,
}

/// <summary>The Ray nodes' C library (<c>libc: glibc 2.36</c> or <c>musl 1.2</c>): decides manylinux vs musllinux wheels.</summary>
public sealed record LibcVersion(MLRay.Preflight.LibcFamily Family, int Major, int Minor)
{
    /// <summary>Debian bookworm's glibc, under the python:*-slim images the Ray Dockerfiles of this repo build from.</summary>
    public static readonly LibcVersion Default = new(MLRay.Preflight.LibcFamily.Glibc, 2, 36);
    public override string ToString() => $"{(Family == MLRay.Preflight.LibcFamily.Glibc ? "glibc" : "musl")} {Major}.{Minor}";
}

/// <summary>
/// The package index the pre-flight asks (<c>package_index</c>): a Simple API root (PyPI, a mirror, a private index),
/// basic or token credentials from the environment, a per-project cache and a bound on parallel requests.
/// </summary>
public sealed record PackageIndexSettings
{
    public Uri Url { get; init; } = new("https://pypi.org/simple/");
    public string? Username { get; init; }
    public string? Password { get; init; }
    /// <summary>How long a project's page is reused (PyPI's own Cache-Control is 10 minutes).</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromMinutes(10);
    public int MaxConcurrency { get; init; } = 8;
    /// <summary>Per request; past it the index counts as unreachable for that project.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public override string ToString() => $"PackageIndexSettings(Url={Url}, Credentials={(Password is null ? "none" : "***")}, CacheTtl={CacheTtl})";
}
