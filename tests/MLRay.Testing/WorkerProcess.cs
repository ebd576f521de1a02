using System.Diagnostics;
using System.Net;
using System.Text;

namespace MLRay.Testing;

/// <summary>
/// A real <c>mlray-worker</c> child process (the build of the same configuration as these tests), its probes on a free
/// loopback port, and everything it wrote to stdout and stderr. Dispose kills it (SIGKILL) if it still runs: a worker
/// left running keeps the test host's pipes open.
/// </summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Task _stdout, _stderr;

    private WorkerProcess(Process process, Uri probes)
    {
        Process = process;
        Probes = probes;
        _stdout = Pump(process.StandardOutput);
        _stderr = Pump(process.StandardError);
    }

    public Process Process { get; }

    /// <summary>The probes' address without <c>--urls</c>, as the README documents it (the worker assembly is not referenced).</summary>
    public const string DocumentedDefaultUrls = "http://127.0.0.1:8091";

    /// <summary>Where its <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> are served.</summary>
    public Uri Probes { get; }

    /// <summary>When <see cref="Kill"/> sent SIGKILL.</summary>
    public DateTimeOffset? KilledAt { get; private set; }

    /// <summary>The worker's built <c>mlray-worker.dll</c> (it is built, not referenced, by the test project).</summary>
    public static string Dll => MLRay.Bench.ServiceProcess.BuiltAssembly("MLRay.Worker", "mlray-worker");

    /// <summary>Starts <c>mlray-worker --config … --cluster … [--no-router] --urls http://127.0.0.1:&lt;free port&gt;</c>.</summary>
    /// <param name="environment">Extra environment variables (secrets, <c>Serilog__MinimumLevel__Default</c>).</param>
    /// <param name="defaultUrls">Without <c>--urls</c>: the probes on the default address, as an operator who gave none gets.</param>
    public static WorkerProcess Start(string configPath, IEnumerable<string> clusters, bool router = false,
        IReadOnlyDictionary<string, string>? environment = null, bool defaultUrls = false)
    {
        var probes = new Uri(defaultUrls ? DocumentedDefaultUrls : $"http://127.0.0.1:{MLRay.Bench.ServiceProcess.FreePort()}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Dll);
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(configPath);
        foreach (var cluster in clusters)
        {
            start.ArgumentList.Add("--cluster");
            start.ArgumentList.Add(cluster);
        }
        if (!router) start.ArgumentList.Add("--no-router");
        if (!defaultUrls)
        {
            start.ArgumentList.Add("--urls");
            start.ArgumentList.Add(probes.ToString().TrimEnd('/'));
        }
        start.Environment.Remove("MLFLOW_TRACKING_URI");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return new WorkerProcess(Process.Start(start)!, probes);
    }

    /// <summary>Everything the process wrote so far (stdout, then stderr lines as they came).</summary>
    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>Waits until <c>/readyz</c> answers 200 (the broker probe and its consumers are up); returns its JSON.</summary>
    public async Task<string> WaitReadyAsync(int seconds = 60)
    {
        using var http = new HttpClient { BaseAddress = Probes, Timeout = TimeSpan.FromSeconds(5) };
        string ready = "";
        await PipelineWorld.WaitUntil(() =>
        {
            if (Process.HasExited) throw new InvalidOperationException($"mlray-worker exited with {Process.ExitCode}:\n{Output}");
            try
            {
                using var response = http.GetAsync("/readyz").GetAwaiter().GetResult();
                ready = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return false; }
        }, seconds, what: "mlray-worker ready");
        return ready;
    }

    /// <summary>SIGKILL: no shutdown, no ack of anything in flight; the broker sees its connections drop.</summary>
    public void Kill()
    {
        KilledAt = DateTimeOffset.UtcNow;
        Process.Kill(entireProcessTree: true);
        Process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        try
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.WaitForExit(10_000);
            Task.WaitAll([_stdout, _stderr], TimeSpan.FromSeconds(5));
        }
        catch (InvalidOperationException) { /* never started */ }
        Process.Dispose();
    }

    private async Task Pump(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
            lock (_output) _output.Append(line).Append('\n');
    }
}
