using Microsoft.Extensions.DependencyInjection;
using MLRay.Deploy;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Cli.Commands;

/// <summary>
/// The CLI's composition root: one service provider per command, built from the loaded config with the same
/// <see cref="MLRayCoreServiceCollectionExtensions.AddMLRayCore"/> the worker and receiver use.
/// </summary>
public sealed class CliServices : IDisposable
{
    private readonly ServiceProvider _provider;

    public CliServices(MLRayConfig config, IEnvironment env, string configPath)
    {
        Config = config;
        ConfigPath = configPath;
        _provider = new ServiceCollection().AddMLRayCore(config, env).BuildServiceProvider();
    }

    public MLRayConfig Config { get; }
    /// <summary>The config file as the command was given it (for the commands the output suggests).</summary>
    public string ConfigPath { get; }
    public MlflowClient Mlflow => _provider.GetRequiredService<MlflowClient>();
    public RegistryReader Registry => _provider.GetRequiredService<RegistryReader>();
    public ClusterReconciler Reconciler(RayClusterConfig cluster) => _provider.GetRequiredService<ClusterReconcilers>().For(cluster.Name);
    public RayDashboardClient Ray(RayClusterConfig cluster) => _provider.GetRequiredService<ClusterReconcilers>().Ray(cluster.Name);
    public T Get<T>() where T : notnull => _provider.GetRequiredService<T>();

    public void Dispose() => _provider.Dispose();
}
