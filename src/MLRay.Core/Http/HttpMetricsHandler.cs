using System.Diagnostics;
using MLRay.Telemetry;

namespace MLRay.Http;

/// <summary>
/// Records every attempt of a request to MLflow, Ray or the package index (it sits inside the resilience pipeline, so a
/// retried 503 and its successful retry are two measurements): <c>mlray.http.request.duration</c> (seconds) and, for an
/// attempt that got no 2xx/3xx answer, <c>mlray.http.request.errors</c>; both tagged <c>server</c>, <c>endpoint</c>,
/// <c>method</c> and <c>status</c>.
/// <para>
/// <c>endpoint</c> is the route template the client put on the request with <see cref="MLRayHttpClients.ForEndpoint"/>
/// (<c>/api/2.0/mlflow/webhooks/{webhook_id}/test</c>), never the raw path, so ids and query strings never make new
/// series; a request without one is <c>other</c>. <c>status</c> is the HTTP status code, or <c>connection_error</c>
/// (no connection, or it dropped) or <c>cancelled</c> (the attempt's timeout, or the caller gave up) when no answer came.
/// </para>
/// </summary>
public sealed class HttpMetricsHandler(string server) : DelegatingHandler
{
    public const string MlflowServer = "mlflow";
    public const string RayServer = "ray";
    public const string IndexServer = "index";
    /// <summary>A cluster's Serve HTTP proxy: smoke tests and the gateway's stats.</summary>
    public const string ServeServer = "serve";
    public const string UnknownEndpoint = "other";

    private static readonly HttpRequestOptionsKey<string> EndpointKey = new("mlray.endpoint");

    /// <summary>Names the route template this request is counted under (see the class summary).</summary>
    public static HttpRequestMessage ForEndpoint(HttpRequestMessage request, string template)
    {
        request.Options.Set(EndpointKey, template);
        return request;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        string status;
        try
        {
            var response = await base.SendAsync(request, ct).ConfigureAwait(false);
            status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Record(request, started, status, error: (int)response.StatusCode >= 400);
            return response;
        }
        catch (Exception e)
        {
            status = e is OperationCanceledException ? "cancelled" : "connection_error";
            Record(request, started, status, error: true);
            throw;
        }
    }

    private void Record(HttpRequestMessage request, long started, string status, bool error)
    {
        var tags = new TagList
        {
            { "server", server },
            { "endpoint", request.Options.TryGetValue(EndpointKey, out var endpoint) ? endpoint : UnknownEndpoint },
            { "method", request.Method.Method },
            { "status", status },
        };
        MLRayTelemetry.HttpRequestDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
        if (error) MLRayTelemetry.HttpRequestErrors.Add(1, tags);
    }
}
