using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Http;
using MLRay.Preflight;
using MLRay.Registry;
using MLRay.Serve;
using MLRay.Verify;

namespace MLRay;

/// <summary>
/// The deploy core in a container, the one way every process (CLI, worker, receiver, demo) builds it: the config, one
/// MLflow client, artifact cache, registry reader and wheel pre-flight for the process, and per cluster (keyed by its
/// name) a Ray client and a <see cref="ClusterReconciler"/>.
/// </summary>
public static class MLRayCoreServiceCollectionExtensions
{
    public static IServiceCollection AddMLRayCore(this IServiceCollection services, MLRayConfig config, IEnvironment env)
    {
        services.TryAddSingleton(config);
        services.TryAddSingleton(env);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMLRayHttpClients();
        services.TryAddSingleton(sp => new MlflowClient(config.Mlflow.TrackingUri, sp.GetRequiredService<IHttpClientFactory>(), config.Mlflow.Credentials));
        services.TryAddSingleton(sp => new ArtifactReader(sp.GetRequiredService<MlflowClient>(), config.Mlflow.S3));
        // Environment files per model version, shared by every reader in this process.
        services.TryAddSingleton(sp => new ModelEnvironmentCache(sp.GetRequiredService<ArtifactReader>(), config.Mlflow.TrackingUri, config.ArtifactCacheDir));
        services.TryAddSingleton(sp => new RegistryReader(sp.GetRequiredService<MlflowClient>(), sp.GetRequiredService<ModelEnvironmentCache>(), config.Mlflow,
            sp.GetService<ILoggerFactory>()?.CreateLogger<RegistryReader>()));
        // One index client (and page cache) for every cluster of this process.
        services.TryAddSingleton(sp => new PackageIndexClient(config.PackageIndex, sp.GetRequiredService<IHttpClientFactory>()));
        services.TryAddSingleton(sp => new PreflightChecker(sp.GetRequiredService<PackageIndexClient>()));
        services.TryAddSingleton(sp => new SmokeTests(new ServingInputExamples(sp.GetRequiredService<ArtifactReader>(), sp.GetRequiredService<ModelEnvironmentCache>()),
            new SmokeTester(sp.GetRequiredService<IHttpClientFactory>())));
        foreach (var cluster in config.Clusters)
        {
            services.AddKeyedSingleton(cluster.Name, (sp, _) => RayDashboardClient.ForCluster(cluster, env, sp.GetRequiredService<IHttpClientFactory>()));
            services.AddKeyedSingleton(cluster.Name, (sp, _) => new ClusterReconciler(cluster, sp.GetRequiredService<RegistryReader>(),
                sp.GetRequiredKeyedService<RayDashboardClient>(cluster.Name), sp.GetRequiredService<PreflightChecker>(),
                sp.GetRequiredService<SmokeTests>(), sp.GetRequiredService<IHttpClientFactory>(), sp.GetRequiredService<TimeProvider>()));
        }
        services.TryAddSingleton<ClusterReconcilers>();
        return services;
    }
}

/// <summary>Each configured cluster's reconciler and Ray client, by name (the one "no cluster named …" error otherwise).</summary>
public sealed class ClusterReconcilers(MLRayConfig config, IServiceProvider services)
{
    public ClusterReconciler For(string cluster) => services.GetRequiredKeyedService<ClusterReconciler>(config.GetCluster(cluster).Name);

    public RayDashboardClient Ray(string cluster) => services.GetRequiredKeyedService<RayDashboardClient>(config.GetCluster(cluster).Name);
}
