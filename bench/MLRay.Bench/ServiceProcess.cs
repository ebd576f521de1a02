using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MLRay.Bench;

/// <summary>
/// A real <c>mlray-receiver</c> or <c>mlray-worker</c> process (the build next to this one), its log in a file, so its
/// memory is its own: peak RSS is the kernel's high-water mark (<c>VmHWM</c>).
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServiceProcess(Process process, Uri baseUri, string logFile) => (_process, BaseUri, LogFile) = (process, baseUri, logFile);

    public Uri BaseUri { get; }
    public string LogFile { get; }
    public int Id => _process.Id;

    /// <summary>Starts <c>dotnet src/&lt;project&gt;/bin/…/&lt;assembly&gt;.dll ARGS --urls http://127.0.0.1:PORT</c>, stdout and stderr into <paramref name="logFile"/>.</summary>
    public static async Task<ServiceProcess> StartAsync(string project, string assembly, IEnumerable<string> args, string logFile, CancellationToken ct)
    {
        var dll = BuiltAssembly(project, assembly);
        var baseUri = new Uri($"http://127.0.0.1:{FreePort()}");
        // exec: the shell becomes the service (same pid), its output goes straight to the file without passing through us.
        var command = $"exec dotnet {Quote(dll)} {string.Join(' ', args.Select(Quote))} --urls {baseUri.ToString().TrimEnd('/')} >{Quote(logFile)} 2>&1";
        var start = new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", command }, UseShellExecute = false };
        var service = new ServiceProcess(Process.Start(start) ?? throw new InvalidOperationException($"could not start {dll}"), baseUri, logFile);
        try
        {
            await service.WaitReadyAsync(TimeSpan.FromSeconds(60), ct);
            return service;
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
    }

    private async Task WaitReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{LogFile}: exited with {_process.ExitCode}: {Tail()}");
            try
            {
                using var response = await http.GetAsync(new Uri(BaseUri, "/readyz"), ct);
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { /* not listening yet */ }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { /* slow start */ }
            if (clock.Elapsed > timeout) throw new TimeoutException($"{LogFile}: not ready within {timeout}: {Tail()}");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>Peak resident set size so far, in bytes (Linux <c>/proc/PID/status</c>).</summary>
    public long PeakRssBytes() => PeakRssBytes(_process.Id);

    /// <summary>Peak resident set size so far of process <paramref name="pid"/> (this one's too), in bytes.</summary>
    public static long PeakRssBytes(int pid) => StatusField(pid, "VmHWM:");

    /// <summary>CPU time (user + system) the process has used so far (<c>/proc/PID/stat</c>, clock ticks of 10 ms).</summary>
    public TimeSpan CpuTime()
    {
        var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');   // after "pid (comm) ": state is field 3
        var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    private static long StatusField(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    private string Tail() => File.Exists(LogFile) ? string.Join('\n', File.ReadLines(LogFile).TakeLast(5)) : "(no log)";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _process.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        _process.Dispose();
    }

    /// <summary>
    /// <c>src/&lt;project&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/&lt;assembly&gt;.dll</c> of this checkout, in the same
    /// configuration as the running program (this benchmark, or the tests: both are <c>&lt;dir&gt;/&lt;project&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/</c>).
    /// </summary>
    public static string BuiltAssembly(string project, string assembly)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent!;
        var repo = configuration.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(repo, "src", project, "bin", configuration.Name, framework.Name, assembly + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is not built: run dotnet build -c {configuration.Name} MLRay.sln", dll);
    }

    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
