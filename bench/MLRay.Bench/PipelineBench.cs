using System.Diagnostics;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;

namespace MLRay.Bench;

/// <summary>What the pipeline scenarios (burst, ingest) share: their Ray cluster, their config, their waits.</summary>
internal static class PipelineBench
{
    public const string Secret = "bench-webhook-secret";

    /// <summary>A cluster (py312 unless told) with room for every model (half a CPU a replica) and 100 ms builds.</summary>
    public static Task<RayDashboardEmulator> StartRayAsync(string python = "3.12.11") => RayDashboardEmulator.StartAsync(new RayEmulatorOptions
    {
        Architecture = "x86_64", PythonVersion = python, BuildTime = TimeSpan.FromMilliseconds(100), TotalCpus = 10_000,
    });

    /// <summary>MLflow's webhook to the receiver, for every event MLRay subscribes to.</summary>
    public static void Subscribe(MlflowEmulator mlflow, Uri receiver) =>
        mlflow.CreateWebhook("mlray", new Uri(receiver, "/webhooks/mlflow").ToString(),
            ["model_version.created", "model_version_alias.created", "model_version_alias.deleted",
             "model_version_tag.set", "model_version_tag.deleted", "registered_model.created"], Secret);

    /// <summary>A service's <c>/metrics</c>: the sum of <paramref name="metric"/>'s series whose labels contain <paramref name="label"/>.</summary>
    public static async Task<double> MetricAsync(HttpClient http, Uri service, string metric, string label, CancellationToken ct)
    {
        var text = await http.GetStringAsync(new Uri(service, "/metrics"), ct);
        return text.Split('\n')
            .Where(l => l.StartsWith(metric, StringComparison.Ordinal) && l.Length > metric.Length && l[metric.Length] is '{' or ' ' && l.Contains(label, StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The benchmark config with the broker's vhost and the webhook secret (written to a file in <paramref name="dir"/>).</summary>
    public static Task<string> ConfigYamlAsync(Uri mlflow, RayDashboardEmulator ray, string dir, Uri vhost, CancellationToken ct) =>
        ConfigYamlAsync(mlflow, [BenchCluster.Py312(ray)], dir, vhost, ct);

    /// <summary>The same with a Ray emulator per cluster.</summary>
    public static async Task<string> ConfigYamlAsync(Uri mlflow, IEnumerable<BenchCluster> clusters, string dir, Uri vhost, CancellationToken ct)
    {
        var secretFile = Path.Combine(dir, "webhook-secret");
        await File.WriteAllTextAsync(secretFile, Secret, ct);
        return ReconcileBenchmark.ConfigYaml(mlflow, clusters, dir, $"""
            rabbitmq:
              uri: {vhost}
            receiver:
              webhook_secret_file: {secretFile}
              resync_interval: 1h
            """);
    }

    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what, TimeSpan? every = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"not reached within {timeout}: {what()}");
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(20));
        }
    }
}

/// <summary>
/// A fresh directory under the system's temp directory, deleted (with what is in it) on dispose — kept, and its path
/// told on stderr, when <c>MLRAY_BENCH_KEEP</c> is set: the services' logs are there, for profiling.
/// </summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlray-bench-" + Guid.NewGuid().ToString("N"));

    public TempDirectory() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("MLRAY_BENCH_KEEP") is { Length: > 0 })
        {
            Console.Error.WriteLine($"kept {Path}");
            return;
        }
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* best effort */ }
    }
}
