using System.Diagnostics;

namespace MLRay.Testing;

/// <summary>The repo's programs (<c>mlray</c>, <c>mlray-receiver</c>, <c>mlray-bench</c>) run as their own process.</summary>
internal static class Programs
{
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunMlray(params string[] args) => RunProgram("mlray.dll", args);

    /// <summary>One of the repo's programs built next to the tests (<c>mlray.dll</c>, <c>mlray-receiver.dll</c>), as its own process.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunProgram(string dll, params string[] args) => RunProgram(dll, null, args);

    /// <param name="environment">Extra environment variables of the process (e.g. credentials).</param>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunProgram(string dll, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("MLFLOW_TRACKING_URI");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true); // e.g. a server that was expected to refuse to start
            throw new TimeoutException($"{dll} {string.Join(' ', args)} still ran after 120 s");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
