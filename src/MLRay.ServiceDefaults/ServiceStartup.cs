using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using MLRay.Configuration;
using Serilog.Events;

namespace MLRay.ServiceDefaults;

/// <summary>
/// How every MLRay service host starts, runs and fails. A start-up failure a person fixes by hand (a config problem, a
/// port another process holds) is plain lines on stderr and exit 2: no JSON, no stack. Anything else is logged with its
/// exception (compact JSON, like every other event) and exits 1.
/// </summary>
public static partial class ServiceStartup
{
    /// <summary>Bad arguments, configuration or address: nothing ran.</summary>
    public const int StartupError = ServiceCommandLine.ArgumentError;
    public const int Failure = 1;

    /// <summary>
    /// Runs <paramref name="run"/> (load the config, build, run until shutdown) with a start-up logger: 0 after a clean
    /// shutdown, <see cref="StartupError"/> with <see cref="StartupErrorLines"/> on <paramref name="stderr"/> (default: the
    /// process's), <see cref="Failure"/> for anything else, logged. Logs are flushed on every path; cancellation propagates.
    /// </summary>
    /// <param name="program">The host's name (<c>mlray-worker</c>), which starts its lines and logs.</param>
    public static async Task<int> RunAsync(string program, string configPath, string urls, Func<Serilog.ILogger, Task> run, TextWriter? stderr = null)
    {
        await using var startupLog = MLRayLogging.CreateStartupLogger(program);
        try
        {
            await run(startupLog);
            return 0;
        }
        catch (Exception e) when (StartupErrorLines(e, program, configPath, urls) is { } lines)
        {
            var error = stderr ?? Console.Error;
            foreach (var line in lines) error.WriteLine(line);
            return StartupError;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            startupLog.Fatal(e, "{Program} stopped with an error", program);
            return Failure;
        }
    }

    /// <summary>
    /// The lines a start-up failure a person fixes is told in, or null for any other failure: one
    /// <c>config error: …</c> line per config problem (<paramref name="configPath"/> naming the file when the problem
    /// does not), one per failed options check, or one line for an address another process listens on.
    /// </summary>
    public static IReadOnlyList<string>? StartupErrorLines(Exception e, string program, string configPath, string urls) => e switch
    {
        ConfigException config => [.. config.Lines(configPath)],
        OptionsValidationException options => [.. options.Failures.Select(f => $"{ConfigException.Prefix}{configPath}: {f}")],
        _ when IsAddressInUse(e) => [AddressInUseLine(program, BoundAddress(e) ?? urls.Split(';')[0])],
        _ => null,
    };

    /// <summary>
    /// <c>mlray-worker: cannot listen on http://127.0.0.1:8091 (address already in use): give this process its own --urls,
    /// e.g. --urls http://127.0.0.1:8092</c>. Two workers on one host meet here first: both default to the same probe port.
    /// </summary>
    public static string AddressInUseLine(string program, string address)
    {
        var next = Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Port is > 0 and < 65535
            ? $", e.g. --urls {new UriBuilder(uri) { Port = uri.Port + 1 }.Uri.GetLeftPart(UriPartial.Authority)}"
            : "";
        return $"{program}: cannot listen on {address} (address already in use): give this process its own --urls{next}";
    }

    /// <summary>Whether Kestrel could not bind because the address is taken (its IOException wraps an AddressInUseException).</summary>
    public static bool IsAddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is AddressInUseException) return true;
        return false;
    }

    /// <summary>The address Kestrel names in "Failed to bind to address http://127.0.0.1:8091: address already in use."</summary>
    private static string? BoundAddress(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (FailedToBind().Match(e.Message) is { Success: true } m) return m.Groups[1].Value;
        return null;
    }

    [GeneratedRegex(@"Failed to bind to address (\S+?):? address already in use")]
    private static partial Regex FailedToBind();

    /// <summary>
    /// The host's own "Hosting failed to start" event for a failure <see cref="RunAsync"/> prints as plain lines: left
    /// out of the log, so the person reads the one line, not the same failure again as JSON with its stack.
    /// </summary>
    public static bool IsToldAsPlainLines(LogEvent e) =>
        e.Exception is { } exception && e.MessageTemplate.Text == "Hosting failed to start"
        && StartupErrorLines(exception, "", "", "") is not null;
}
