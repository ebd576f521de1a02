using MLRay.Registry;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using MLRay.Emulators.Seed;
using MLRay.Deploy;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;

namespace MLRay.Bench;

/// <summary>
/// One cluster's reconcile (read the registry and the cluster, compute, PUT if changed) over registries of several
/// sizes: cold (new process, empty caches) and warm (the same process again), with MLflow's request counts.
/// </summary>
public static class ReconcileBenchmark
{
    public static async Task RunAsync(IReadOnlyList<int> sizes, TextWriter output, CancellationToken ct)
    {
        output.WriteLine("## reconcile (one cluster, MLflow and Ray emulators on loopback)");
        output.WriteLine();
        output.WriteLine("| models | run | time | MLflow requests | by endpoint | artifact downloads (versions) | PUT |");
        output.WriteLine("|---:|---|---:|---:|---|---:|---|");
        foreach (var size in sizes)
        {
            var dir = Path.Combine(Path.GetTempPath(), "mlray-bench-" + Guid.NewGuid().ToString("N"));
            await using var mlflow = await MlflowEmulator.StartAsync();
            await using var ray = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions
            {
                Architecture = "x86_64", PythonVersion = "3.12.11", BuildTime = TimeSpan.FromMilliseconds(100),
            TotalCpus = 10_000, // half a CPU per replica: room for every model
            });
            for (var i = 0; i < size; i++) SeedModels.RegisterCopy(mlflow, SeedModels.All[0], $"bench-model-{i:D5}");
            var config = Config(mlflow.BaseUri, ray, dir);
            try
            {
                using (var services = new ServiceCollection().AddMLRayCore(config, BenchEnvironment.Empty).BuildServiceProvider())
                {
                    await MeasureAsync("cold", services);
                    await MeasureAsync("warm", services);
                }
                using (var restarted = new ServiceCollection().AddMLRayCore(config, BenchEnvironment.Empty).BuildServiceProvider())
                {
                    await MeasureAsync("warm, restarted (disk cache)", restarted);
                    await BreakDownAsync(restarted);
                }
            }
            finally
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }

            // Where a warm reconcile's time goes: the registry read, the cluster read, and the pure computation.
            async Task BreakDownAsync(ServiceProvider services)
            {
                output.WriteLine($"| {size:N0} | warm, split | {await SplitAsync(services, config.Clusters[0], ct)} | | | | |");
            }

            async Task MeasureAsync(string run, ServiceProvider services)
            {
                var before = mlflow.Requests.Count;
                var downloads = services.GetRequiredService<ModelEnvironmentCache>().Downloads;
                var clock = Stopwatch.StartNew();
                var report = await services.GetRequiredService<ClusterReconcilers>().For(config.Clusters[0].Name).ReconcileAsync(ct: ct);
                var elapsed = clock.Elapsed;
                var counts = mlflow.RequestCounts(before);
                var selected = report.Desired.Models.Count(m => m.Kind == ModelOutcomeKind.Selected);
                if (selected != size) throw new InvalidOperationException($"{selected} of {size} models were selected");
                output.WriteLine($"| {size:N0} | {run} | {Format(elapsed)} | {counts.Values.Sum():N0} | " +
                                 $"{string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value:N0}"))} | " +
                                 $"{services.GetRequiredService<ModelEnvironmentCache>().Downloads - downloads:N0} | {(report.Applied ? "yes" : "no")} |");
            }
        }
        output.WriteLine();
    }

    /// <summary>One reconcile's parts, timed apart: "registry 200 ms · Ray GET 115 ms · plan 90 ms".</summary>
    internal static async Task<string> SplitAsync(IServiceProvider services, RayClusterConfig cluster, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var snapshot = await services.GetRequiredService<RegistryReader>().ReadSnapshotAsync(ct);
        var registry = clock.Elapsed;
        clock.Restart();
        var current = await services.GetRequiredService<ClusterReconcilers>().Ray(cluster.Name).GetApplicationsAsync(ct);
        var ray = clock.Elapsed;
        clock.Restart();
        var desired = DesiredState.For(cluster, snapshot.Models, current);
        MLRay.Serve.ServeConfigPlanner.Plan(desired.Applications, current, desired.KeepAsIs);
        return $"registry {Format(registry)} · Ray GET {Format(ray)} · plan {Format(clock.Elapsed)}";
    }

    internal static MLRayConfig Config(Uri mlflow, RayDashboardEmulator ray, string workingDir, string extra = "") =>
        ConfigLoader.Load(ConfigYaml(mlflow, ray, workingDir, extra), BenchEnvironment.Empty);

    /// <summary>The benchmarks' config file: one py312 cluster on the Ray emulator, <paramref name="extra"/> appended.</summary>
    internal static string ConfigYaml(Uri mlflow, RayDashboardEmulator ray, string workingDir, string extra = "") =>
        ConfigYaml(mlflow, [BenchCluster.Py312(ray)], workingDir, extra);

    /// <summary>The benchmarks' config file with a Ray emulator per cluster, <paramref name="extra"/> appended.</summary>
    internal static string ConfigYaml(Uri mlflow, IEnumerable<BenchCluster> clusters, string workingDir, string extra = "") =>
        $"""
        mlray:
          working_dir: {workingDir}
        mlflow:
          tracking_uri: {mlflow}
        ray_clusters:

        """ + string.Concat(clusters.Select(c => $"""
        - name: {c.Name}
          python_version: '{c.Python}'
          dashboard_address: {c.Ray.BaseUri}
          serve_address: {c.Ray.ServeUri}

        """)) + extra + "\n";

    internal static string Format(TimeSpan t) => t.TotalSeconds >= 1 ? $"{t.TotalSeconds:F2} s" : $"{t.TotalMilliseconds:F0} ms";
}

/// <summary>A <c>ray_clusters</c> entry of the benchmarks' config: its name, its Python (major.minor) and its Ray emulator.</summary>
internal sealed record BenchCluster(string Name, string Python, RayDashboardEmulator Ray)
{
    /// <summary>The single cluster of the reconcile, burst and ingest scenarios.</summary>
    public static BenchCluster Py312(RayDashboardEmulator ray) => new("ray-cluster-py312", "3.12", ray);
}

internal static class BenchEnvironment
{
    public static readonly DictionaryEnvironment Empty = new(new Dictionary<string, string>());
}
