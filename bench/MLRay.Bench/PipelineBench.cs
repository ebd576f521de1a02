using System.Diagnostics;
using MLRay.Emulators.Ray;

namespace MLRay.Bench;

/// <summary>What the pipeline scenarios (burst, ingest) share: their Ray cluster, their config, their waits.</summary>
internal static class PipelineBench
{
    public const string Secret = "bench-webhook-secret";

    /// <summary>A py312 cluster with room for every model (half a CPU a replica) and 100 ms builds.</summary>
    public static Task<RayDashboardEmulator> StartRayAsync() => RayDashboardEmulator.StartAsync(new RayEmulatorOptions
    {
        Architecture = "x86_64", PythonVersion = "3.12.11", BuildTime = TimeSpan.FromMilliseconds(100), TotalCpus = 10_000,
    });

    /// <summary>The benchmark config with the broker's vhost and the webhook secret (written to a file in <paramref name="dir"/>).</summary>
    public static async Task<string> ConfigYamlAsync(Uri mlflow, RayDashboardEmulator ray, string dir, Uri vhost, CancellationToken ct)
    {
        var secretFile = Path.Combine(dir, "webhook-secret");
        await File.WriteAllTextAsync(secretFile, Secret, ct);
        return ReconcileBenchmark.ConfigYaml(mlflow, ray, dir, $"""
            rabbitmq:
              uri: {vhost}
            receiver:
              webhook_secret_file: {secretFile}
              resync_interval: 1h
            """);
    }

    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"not reached within {timeout}: {what()}");
            await Task.Delay(20);
        }
    }
}

/// <summary>A fresh directory under the system's temp directory, deleted (with what is in it) on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlray-bench-" + Guid.NewGuid().ToString("N"));

    public TempDirectory() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* best effort */ }
    }
}
