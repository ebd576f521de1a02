using Microsoft.Extensions.Logging;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>The clients one process needs for a config: one MLflow client and artifact reader, one Ray client per cluster.</summary>
public sealed class MLRayServices : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly IEnvironment _env;
    private readonly IHttpClientFactory? _http;

    /// <param name="http">A host's factory (its handlers and telemetry); null for the process's own.</param>
    public MLRayServices(MLRayConfig config, IEnvironment env, ILoggerFactory? logs = null, IHttpClientFactory? http = null)
    {
        Config = config;
        _env = env;
        _http = http;
        Mlflow = Own(new MlflowClient(config.Mlflow.TrackingUri, config.Mlflow.Credentials, http: http));
        Artifacts = Own(new ArtifactReader(Mlflow, config.Mlflow.S3));
        Environments = new ModelEnvironmentCache(Artifacts, config.Mlflow.TrackingUri, config.ArtifactCacheDir);
        Registry = new RegistryReader(Mlflow, Environments, config.Mlflow, logs?.CreateLogger<RegistryReader>());
        Preflight = new Preflight.PreflightChecker(Own(new Preflight.PackageIndexClient(config.PackageIndex, http: http)));
    }

    public MLRayConfig Config { get; }
    public MlflowClient Mlflow { get; }
    public ArtifactReader Artifacts { get; }
    /// <summary>Environment files per model version, shared by every reader in this process.</summary>
    public ModelEnvironmentCache Environments { get; }
    public RegistryReader Registry { get; }
    /// <summary>The wheel pre-flight, one index client (and page cache) for every cluster of this process.</summary>
    public Preflight.PreflightChecker Preflight { get; }

    public RayDashboardClient RayClient(RayClusterConfig cluster) => Own(RayDashboardClient.ForCluster(cluster, _env, _http));

    public ClusterDeployer Deployer(RayClusterConfig cluster) => new(Registry, RayClient(cluster), cluster, Preflight);

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
    }
}
