using System.Security.Cryptography;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.PackageIndex;
using MLRay.Emulators.Ray;
using MLRay.Emulators.Seed;

namespace MLRay.Cli.Emulators;

/// <summary>Where <c>mlray emulators</c> listens: the example config's ports by default, or six in a row from <c>--port-base</c>.</summary>
/// <param name="ServePy39">The py39 cluster's Serve HTTP proxy (its data plane).</param>
/// <param name="ServePy312">The py312 cluster's.</param>
public sealed record EmulatorPorts(int Mlflow, int RayPy39, int RayPy312, int PackageIndex, int ServePy39, int ServePy312)
{
    /// <summary>The ports <c>config.example.yml</c> names (MLflow 8080, Ray 8265 and 8266, Serve 8000 and 8001 — the compose
    /// stack's host ports and <c>examples/*.request.http</c>'s), so they work against the emulators as they are.</summary>
    public static readonly EmulatorPorts Default = new(8080, 8265, 8266, 8267, 8000, 8001);

    /// <summary>Free ports, whichever the system gives (the demo's and the tests' choice).</summary>
    public static readonly EmulatorPorts Free = new(0, 0, 0, 0, 0, 0);

    public static EmulatorPorts From(int portBase) => new(portBase, portBase + 1, portBase + 2, portBase + 3, portBase + 4, portBase + 5);
}

/// <summary>
/// The emulated MLflow (with the seed's three models, tagged, once <see cref="RegisterSeedModels"/> is called), two Ray clusters (py39 on aarch64, where catboost 1.1 has no
/// wheel; py312 on x86_64) and the package index, on fixed loopback ports, with a ready <c>config.yml</c> and <c>.env</c>.
/// </summary>
public sealed class EmulatorStack : IAsyncDisposable
{
    public required MlflowEmulator Mlflow { get; init; }
    public required RayDashboardEmulator RayPy39 { get; init; }
    public required RayDashboardEmulator RayPy312 { get; init; }
    public required PackageIndexEmulator PackageIndex { get; init; }

    public static async Task<EmulatorStack> StartAsync(EmulatorPorts ports, TimeSpan buildTime, CancellationToken ct)
    {
        var started = new List<IAsyncDisposable>();
        try
        {
            var mlflow = await Started(MlflowEmulator.StartAsync(new MlflowEmulatorOptions { Port = ports.Mlflow }, ct), "MLflow", $"{ports.Mlflow}");
            started.Add(mlflow);
            var py39 = await Started(RayDashboardEmulator.StartAsync(new RayEmulatorOptions
            {
                Port = ports.RayPy39, ServePort = ports.ServePy39, Architecture = "aarch64", PythonVersion = "3.9.22", BuildTime = buildTime,
            }, ct), "Ray py39", $"{ports.RayPy39} or {ports.ServePy39}");
            started.Add(py39);
            var py312 = await Started(RayDashboardEmulator.StartAsync(new RayEmulatorOptions
            {
                Port = ports.RayPy312, ServePort = ports.ServePy312, Architecture = "x86_64", PythonVersion = "3.12.11", BuildTime = buildTime,
            }, ct), "Ray py312", $"{ports.RayPy312} or {ports.ServePy312}");
            started.Add(py312);
            var index = await Started(PackageIndexEmulator.StartAsync(ct: ct, port: ports.PackageIndex), "package index", $"{ports.PackageIndex}");
            return new EmulatorStack { Mlflow = mlflow, RayPy39 = py39, RayPy312 = py312, PackageIndex = index };
        }
        catch
        {
            foreach (var s in started) await s.DisposeAsync();
            throw;
        }
    }

    /// <summary>A port someone else holds is one clear line, not Kestrel's stack trace.</summary>
    private static async Task<T> Started<T>(Task<T> start, string what, string port)
    {
        try
        {
            return await start;
        }
        catch (Exception e) when (ServiceDefaults.ServiceStartup.IsAddressInUse(e))
        {
            throw new PortInUseException($"cannot start the emulated {what} on 127.0.0.1:{port}: the address is already in use (another 'mlray emulators'?); pick other ports with --port-base N");
        }
    }

    /// <summary>
    /// Writes <c>config.yml</c> (every key pointing at these emulators; the webhook secret read from <c>MLRAY_WEBHOOK_SECRET</c>)
    /// and <c>.env</c> with that secret, in <paramref name="dir"/>. Returns the config's path.
    /// </summary>
    public async Task<string> WriteConfigAsync(string dir, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        var full = Path.GetFullPath(dir);
        await File.WriteAllTextAsync(Path.Combine(full, ".env"),
            $"# Read by every MLRay process that loads config.yml from this folder; only the receiver and 'mlray webhook' need the secret.\n" +
            $"MLRAY_WEBHOOK_SECRET={Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24))}\n", ct);
        var path = Path.Combine(full, "config.yml");
        await File.WriteAllTextAsync(path, $"""
            # Written by 'mlray emulators': MLflow, two Ray clusters and a package index, emulated on 127.0.0.1.
            mlray:
              working_dir: {Path.Combine(full, ".mlray")}
            mlflow:
              tracking_uri: {Mlflow.BaseUri}
            rabbitmq:
              uri: amqp://guest:guest@127.0.0.1:5672/   # scripts/rabbitmq.sh start (only the pipeline needs it)
            receiver:
              webhook_secret_env: MLRAY_WEBHOOK_SECRET   # in .env next to this file
              resync_interval: 30s
            package_index: {PackageIndex.SimpleUri}
            ray_clusters:
            - name: ray-cluster-py39
              python_version: '3.9'
              dashboard_address: {RayPy39.BaseUri}
              serve_address: {RayPy39.ServeUri}
              platform: linux/aarch64
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 2m
            - name: ray-cluster-py312
              python_version: '3.12'
              dashboard_address: {RayPy312.BaseUri}
              serve_address: {RayPy312.ServeUri}
              platform: linux/x86_64
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 2m

            """, ct);
        return path;
    }

    public void RegisterSeedModels() => SeedModels.RegisterAll(Mlflow);

    public async ValueTask DisposeAsync()
    {
        await PackageIndex.DisposeAsync();
        await RayPy312.DisposeAsync();
        await RayPy39.DisposeAsync();
        await Mlflow.DisposeAsync();
    }
}

public sealed class PortInUseException(string message) : Exception(message);
