using MLRay.Emulators.Seed;
using MLRay.Deploy;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;

namespace MLRay.Tests.Integration;

/// <summary>An emulated MLflow and the seed's two emulated Ray clusters (py39 on aarch64, py312 on x86_64), over real HTTP.</summary>
public sealed class DeployWorld : IAsyncDisposable
{
    public required MlflowEmulator Mlflow { get; init; }
    public required RayDashboardEmulator Ray39 { get; init; }
    public required RayDashboardEmulator Ray312 { get; init; }
    public string WorkingDir { get; } = Path.Combine(Path.GetTempPath(), "mlray-tests", Guid.NewGuid().ToString("N"));

    public static async Task<DeployWorld> StartAsync()
    {
        var build = TimeSpan.FromMilliseconds(100);
        return new DeployWorld
        {
            Mlflow = await MlflowEmulator.StartAsync(),
            Ray39 = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions { Architecture = "aarch64", PythonVersion = "3.9.22", BuildTime = build }),
            Ray312 = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions { Architecture = "x86_64", PythonVersion = "3.12.11", BuildTime = build }),
        };
    }

    public static readonly DictionaryEnvironment NoEnv = new(new Dictionary<string, string>());

    public string ConfigYaml(string mlflowExtra = "") => $"""
        mlray:
          working_dir: {WorkingDir}
        mlflow:
          tracking_uri: {Mlflow.BaseUri}
        {mlflowExtra}
        ray_clusters:
        - name: ray-cluster-py39
          python_version: '3.9'
          dashboard_address: {Ray39.BaseUri}
          deploy_timeout: 20s
        - name: ray-cluster-py312
          python_version: '3.12'
          dashboard_address: {Ray312.BaseUri}
          deploy_timeout: 20s
        """;

    public MLRayConfig Config(string mlflowExtra = "") => ConfigLoader.Load(ConfigYaml(mlflowExtra), NoEnv);

    public string WriteConfigFile(string mlflowExtra = "")
    {
        Directory.CreateDirectory(WorkingDir);
        var path = Path.Combine(WorkingDir, "config.yml");
        File.WriteAllText(path, ConfigYaml(mlflowExtra));
        return path;
    }

    public async Task<DeployReport> DeployAsync(string cluster, MLRayConfig? config = null, IEnvironment? env = null)
    {
        config ??= Config();
        using var services = new MLRayServices(config, env ?? NoEnv);
        return await services.Deployer(config.FindCluster(cluster)!).DeployAsync(new DeployOptions
        {
            WorkingDir = WorkingDir,
            PollInterval = TimeSpan.FromMilliseconds(50),
        });
    }

    public void RegisterSeed() => SeedModels.RegisterAll(Mlflow);

    public async ValueTask DisposeAsync()
    {
        await Mlflow.DisposeAsync();
        await Ray39.DisposeAsync();
        await Ray312.DisposeAsync();
        if (Directory.Exists(WorkingDir)) Directory.Delete(WorkingDir, recursive: true);
    }
}
