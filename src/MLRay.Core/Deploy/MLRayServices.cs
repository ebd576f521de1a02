using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>The clients one process needs for a config: one MLflow client and artifact reader, one Ray client per cluster.</summary>
public sealed class MLRayServices : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly IEnvironment _env;

    public MLRayServices(MLRayConfig config, IEnvironment env)
    {
        Config = config;
        _env = env;
        Mlflow = Own(new MlflowClient(config.Mlflow.TrackingUri, config.Mlflow.Credentials));
        Artifacts = Own(new ArtifactReader(Mlflow, config.Mlflow.S3));
        Registry = new RegistryReader(Mlflow, Artifacts, config.Mlflow);
    }

    public MLRayConfig Config { get; }
    public MlflowClient Mlflow { get; }
    public ArtifactReader Artifacts { get; }
    public RegistryReader Registry { get; }

    public RayDashboardClient RayClient(RayClusterConfig cluster) => Own(RayDashboardClient.ForCluster(cluster, _env));

    public ClusterDeployer Deployer(RayClusterConfig cluster) => new(Registry, RayClient(cluster), cluster);

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
