using System.Net;
using Flurl.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Telemetry;
using Polly.Timeout;

namespace MLRay.Http;

/// <summary>
/// The named <see cref="HttpClient"/>s behind <see cref="Registry.MlflowClient"/> and <see cref="Serve.RayDashboardClient"/>,
/// each with the standard resilience handler (rate limiter, total timeout, retry, circuit breaker, attempt timeout).
/// <para>
/// A request is retried only when its client marked it <see cref="RetryWhenTransient"/>, i.e. sending it twice
/// leaves the server as sending it once: reads, MLflow's set-tag (a key/value overwrite) and Ray's full-config PUT (a
/// whole-state replace). Anything else — creating a webhook, asking MLflow to deliver a test webhook — is sent once,
/// because a retry after a lost answer would make a second webhook or a second delivery.
/// </para>
/// <para>
/// Transient means: a connection error, an attempt that timed out, or 408, 429, 502, 503, 504. A 500 is not retried:
/// Ray answers 500 with a Python traceback for a config it will reject again (contracts/ray.md §5, case 4), and
/// MLflow's <c>INTERNAL_ERROR</c> comes from a request it cannot handle (e.g. lowercase webhook events).
/// </para>
/// </summary>
public static class MLRayHttpClients
{
    public const string Mlflow = "mlray-mlflow";
    public const string Ray = "mlray-ray";
    /// <summary>The wheel pre-flight's index client: no resilience handler (see <see cref="AddMLRayHttpClients"/>).</summary>
    public const string PackageIndex = "mlray-package-index";
    /// <summary>Requests to a cluster's Serve proxy (smoke tests, gateway stats): sent once, timed out per request by the caller.</summary>
    public const string Serve = "mlray-serve";

    /// <summary>One attempt of one request; a slow registry page or a Ray PUT of many apps stays well under it.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A request with all its retries and waits (4 attempts that time out, plus the backoff between them).</summary>
    public static readonly TimeSpan TotalTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Retries after the first attempt; with <see cref="FirstRetryDelay"/> they span about 4 s (0.25, 0.5, 1, 2 s, jittered).</summary>
    public const int MaxRetries = 4;

    public static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(250);

    private static readonly HttpRequestOptionsKey<bool> RetrySafe = new("mlray.retry-when-transient");

    /// <summary>Marks the request as safe to send again when it failed transiently (see the class summary).</summary>
    public static IFlurlRequest RetryWhenTransient(this IFlurlRequest request) =>
        request.BeforeCall(call => call.HttpRequestMessage.Options.Set(RetrySafe, true));

    /// <summary>Names the route template the request's metrics are tagged with (see <see cref="HttpMetricsHandler"/>).</summary>
    public static IFlurlRequest ForEndpoint(this IFlurlRequest request, string template) =>
        request.BeforeCall(call => HttpMetricsHandler.ForEndpoint(call.HttpRequestMessage, template));

    /// <summary>Registers the MLflow and Ray clients; hosts call this on their own service collection.</summary>
    public static IServiceCollection AddMLRayHttpClients(this IServiceCollection services)
    {
        // Requests are transport, not decisions: one line each at Debug, failures and retries at Warning (HttpRequestLogger),
        // for every client of the factory, instead of HttpClient's four and Polly's one at Information.
        services.ConfigureHttpClientDefaults(http => http.RemoveAllLoggers()
            .AddLogger(sp => new HttpRequestLogger(sp.GetRequiredService<ILogger<HttpRequestLogger>>()), wrapHandlersPipeline: true));
        services.Configure<TelemetryOptions>(o => o.SeverityProvider = HttpRequestLogger.PollySeverity);
        foreach (var (name, server) in new[] { (Mlflow, HttpMetricsHandler.MlflowServer), (Ray, HttpMetricsHandler.RayServer) })
        {
            var client = services.AddHttpClient(name, http => http.Timeout = Timeout.InfiniteTimeSpan) // the pipeline's timeouts rule
                // One client lives as long as its process (a worker: days): fresh connections, so fresh DNS, every 2 min.
                .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
                .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
            client.AddStandardResilienceHandler(Configure)
                // One pipeline, so one circuit breaker, per server: a Ray cluster that is down must not open the
                // breaker for the process's other clusters.
                .SelectPipelineByAuthority();
            // Inside the pipeline: every attempt is measured, so a 503 that a retry hides still shows.
            client.AddHttpMessageHandler(() => new HttpMetricsHandler(server));
        }
        // Sent once, never retried here: an index that does not answer makes the pre-flight's verdict "unknown" (never
        // "no"), and the next reconcile asks again once the 30 s failure cache expires. PyPI's 301 to the normalised
        // name is followed; the per-request timeout is the config's package_index timeout (PackageIndexClient).
        services.AddHttpClient(PackageIndex, http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = true, MaxAutomaticRedirections = 5, PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddHttpMessageHandler(() => new HttpMetricsHandler(HttpMetricsHandler.IndexServer));
        // A smoke test is a verdict on the model: a retry here would hide the 500 it is looking for. The attempt policy
        // retries a failed verification as it retries a failed install.
        services.AddHttpClient(Serve, http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddHttpMessageHandler(() => new HttpMetricsHandler(HttpMetricsHandler.ServeServer));
        return services;
    }

    private static void Configure(HttpStandardResilienceOptions options)
    {
        options.AttemptTimeout.Timeout = AttemptTimeout;
        options.TotalRequestTimeout.Timeout = TotalTimeout;
        // The breaker must sample at least two attempt timeouts (the options' validation).
        options.CircuitBreaker.SamplingDuration = 2 * AttemptTimeout;
        options.Retry.MaxRetryAttempts = MaxRetries;
        options.Retry.BackoffType = DelayBackoffType.Exponential;
        options.Retry.UseJitter = true;
        options.Retry.Delay = FirstRetryDelay;
        options.Retry.ShouldHandle = args => ValueTask.FromResult(
            args.Context.GetRequestMessage()?.Options.TryGetValue(RetrySafe, out var safe) == true && safe && IsTransient(args.Outcome));
    }

    internal static bool IsTransient(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is HttpRequestException or TimeoutRejectedException
        || outcome.Result?.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
            or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>
    /// A factory of these clients outside any container, for code that builds its own clients on purpose (a test's or the
    /// benchmark's reads of the emulators). Services and the CLI get theirs from <see cref="MLRayCoreServiceCollectionExtensions.AddMLRayCore"/>.
    /// </summary>
    public static IHttpClientFactory NewFactory() =>
        new ServiceCollection().AddMLRayHttpClients().BuildServiceProvider().GetRequiredService<IHttpClientFactory>();
}
