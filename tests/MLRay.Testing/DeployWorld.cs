using MLRay.Cli.Commands;
using MLRay.Emulators.Seed;
using MLRay.Deploy;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.PackageIndex;
using MLRay.Emulators.Ray;

namespace MLRay.Testing;

/// <summary>
/// An emulated MLflow, the seed's two emulated Ray clusters (py39 on aarch64, py312 on x86_64) and a package index with the
/// seed's releases, over real HTTP. The config turns the pre-flight off unless a test names it, and leaves each cluster's
/// <c>platform</c> at its default (linux/x86_64), so what Ray's emulated aarch64 pip refuses still reaches Ray (the
/// failure-handling tests).
/// </summary>
public sealed class DeployWorld : IAsyncDisposable
{
    public required MlflowEmulator Mlflow { get; init; }
    public required RayDashboardEmulator Ray39 { get; init; }
    public required RayDashboardEmulator Ray312 { get; init; }
    public required PackageIndexEmulator Index { get; init; }
    public string WorkingDir { get; } = Path.Combine(Path.GetTempPath(), "mlray-tests", Guid.NewGuid().ToString("N"));

    public static async Task<DeployWorld> StartAsync(MlflowEmulatorOptions? mlflow = null)
    {
        var build = TimeSpan.FromMilliseconds(100);
        return new DeployWorld
        {
            Mlflow = await MlflowEmulator.StartAsync(mlflow),
            Ray39 = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions { Architecture = "aarch64", PythonVersion = "3.9.22", BuildTime = build }),
            Ray312 = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions { Architecture = "x86_64", PythonVersion = "3.12.11", BuildTime = build }),
            Index = await PackageIndexEmulator.StartAsync(),
        };
    }

    /// <summary>A python_env.yaml whose unclosed flow sequence crashes the YAML parser.</summary>
    public const string CrashingPythonEnv = "python: 3.9.22\nbuild_dependencies: [pip==25.0.1\ndependencies:\n- -r requirements.txt\n";

    public static readonly DictionaryEnvironment NoEnv = new(new Dictionary<string, string>());

    /// <param name="py39Extra">More keys of the py39 cluster, one per line (e.g. <c>platform: linux/aarch64</c>).</param>
    /// <param name="py312Extra">More keys of the py312 cluster, one per line.</param>
    public string ConfigYaml(string mlflowExtra = "", string py39Extra = "", string py312Extra = "") => $"""
        mlray:
          working_dir: {WorkingDir}
        mlflow:
          tracking_uri: {Mlflow.BaseUri}
        {mlflowExtra}
        package_index:
          url: {Index.SimpleUri}
          timeout: 2s
        ray_clusters:
        - name: ray-cluster-py39
          python_version: '3.9'
          dashboard_address: {Ray39.BaseUri}{ServeAddress(Ray39, py39Extra)}{Py39Keys(py39Extra)}
          deploy_timeout: 20s
        - name: ray-cluster-py312
          python_version: '3.12'
          dashboard_address: {Ray312.BaseUri}{ServeAddress(Ray312, py312Extra)}
          preflight: off
          deploy_timeout: 20s{ClusterKeys(py312Extra)}
        """;

    /// <summary>
    /// The py39 cluster's extra keys, with the pre-flight off unless they name it: most tests install made-up packages
    /// (<c>slowpkg</c>) that no index has, and a blocking pre-flight would rightly refuse them.
    /// </summary>
    private static string Py39Keys(string extra) => ClusterKeys(extra.Contains("preflight:") ? extra : extra + "\npreflight: off");

    /// <summary>The emulated cluster's Serve proxy, unless the test's keys name another <c>serve_address</c>.</summary>
    private static string ServeAddress(RayDashboardEmulator ray, string extra) => extra.Contains("serve_address:") ? "" : $"\n  serve_address: {ray.ServeUri}";

    /// <summary>Keys given one per line, as more lines of a <c>ray_clusters</c> entry.</summary>
    private static string ClusterKeys(string extra) =>
        string.Concat(extra.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "\n  " + l.Trim()));

    public MLRayConfig Config(string mlflowExtra = "", string py39Extra = "") => ConfigLoader.Load(ConfigYaml(mlflowExtra, py39Extra), NoEnv);

    public string WriteConfigFile(string mlflowExtra = "", string py39Extra = "")
    {
        Directory.CreateDirectory(WorkingDir);
        var path = Path.Combine(WorkingDir, "config.yml");
        File.WriteAllText(path, ConfigYaml(mlflowExtra, py39Extra));
        return path;
    }

    public async Task<DeployReport> DeployAsync(string cluster, MLRayConfig? config = null, IEnvironment? env = null)
    {
        config ??= Config();
        using var services = new CliServices(config, env ?? NoEnv, "config.yml");
        return await DeployCommands.DeployAsync(services, config.GetCluster(cluster), new WaitOptions { PollInterval = TimeSpan.FromMilliseconds(50) }, null, CancellationToken.None);
    }

    public void RegisterSeed() => SeedModels.RegisterAll(Mlflow);

    public async ValueTask DisposeAsync()
    {
        await Mlflow.DisposeAsync();
        await Ray39.DisposeAsync();
        await Ray312.DisposeAsync();
        await Index.DisposeAsync();
        if (Directory.Exists(WorkingDir)) Directory.Delete(WorkingDir, recursive: true);
    }
}
