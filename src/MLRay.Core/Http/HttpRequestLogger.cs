using Microsoft.Extensions.Http.Logging;
using Microsoft.Extensions.Logging;
using Polly.Telemetry;
using Polly.Timeout;

namespace MLRay.Http;

/// <summary>
/// How outgoing requests are logged: transport, not decisions, so never at Information. It replaces HttpClient's own
/// four lines per request (start, sending, headers received, end — all Information) with one, wrapped around the whole
/// resilience pipeline (retries included): Debug when an answer came (any status below 500), Warning when the request
/// failed in the end (no answer: a connection error, the total timeout; or a 5xx after its retries). Each retry is
/// Polly's to tell, at Warning (<see cref="PollySeverity"/> keeps those and lowers the per-attempt lines to Debug).
/// The URL is logged without its query and user info (names in a query are the registry's, and a secret rides in headers).
/// </summary>
public sealed class HttpRequestLogger(ILogger<HttpRequestLogger> log) : IHttpClientLogger
{
    public object? LogRequestStart(HttpRequestMessage request) => null;

    public void LogRequestStop(object? context, HttpRequestMessage request, HttpResponseMessage response, TimeSpan elapsed)
    {
        var status = (int)response.StatusCode;
        if (status >= 500)
            log.LogWarning("HTTP {Method} {Url} answered {Status} after {ElapsedMs:0} ms", request.Method.Method, Url(request), status, elapsed.TotalMilliseconds);
        else if (log.IsEnabled(LogLevel.Debug))
            log.LogDebug("HTTP {Method} {Url} answered {Status} in {ElapsedMs:0} ms", request.Method.Method, Url(request), status, elapsed.TotalMilliseconds);
    }

    public void LogRequestFailed(object? context, HttpRequestMessage request, HttpResponseMessage? response, Exception exception, TimeSpan elapsed)
    {
        // The caller gave up (a worker stopping, a pre-flight's own timeout): not the server's failure.
        if (exception is OperationCanceledException)
            log.LogDebug("HTTP {Method} {Url} cancelled after {ElapsedMs:0} ms", request.Method.Method, Url(request), elapsed.TotalMilliseconds);
        else
            log.LogWarning("HTTP {Method} {Url} failed after {ElapsedMs:0} ms: {Error}", request.Method.Method, Url(request), elapsed.TotalMilliseconds,
                exception is TimeoutRejectedException ? "timed out" : exception.Message);
    }

    private static string Url(HttpRequestMessage request) =>
        request.RequestUri is { IsAbsoluteUri: true } uri ? $"{uri.Scheme}://{uri.Authority}{uri.AbsolutePath}" : request.RequestUri?.OriginalString.Split('?')[0] ?? "";

    /// <summary>
    /// Polly's severities, with one change: an attempt that succeeded (Polly says Information for each one, so a line per
    /// request) is Debug. A handled attempt (a transient failure) and a retry stay Warning.
    /// </summary>
    public static ResilienceEventSeverity PollySeverity(SeverityProviderArguments args) =>
        args.Event is { EventName: "ExecutionAttempt", Severity: ResilienceEventSeverity.Information } ? ResilienceEventSeverity.Debug : args.Event.Severity;
}
