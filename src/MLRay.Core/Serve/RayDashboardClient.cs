using Flurl.Http;
using MLRay.Http;

namespace MLRay.Serve;

/// <summary>Ray rejected a config: the status and Ray's text body, verbatim (a pydantic ValidationError for 400).</summary>
public sealed class RayRejectedException(int status, string body)
    : Exception($"Ray dashboard answered {status}: {body}")
{
    public int Status { get; } = status;
    public string Body { get; } = body;
}

/// <summary>
/// The Ray dashboard's Serve REST API (Ray ≥ 2.8: <c>:8265/api/serve/applications/</c>, trailing slash included).
/// Sends no browser-like headers (Ray answers 405 to those) and a bearer token when the cluster uses token auth.
/// Requests go through the <see cref="MLRayHttpClients.Ray"/> client; both are retried on transient errors (a 503
/// while the controller restarts, a dropped connection), so one bad answer while a deploy polls does not fail it:
/// <list type="table">
/// <listheader><term>endpoint</term><description>retried on transient errors?</description></listheader>
/// <item><term><c>GET api/serve/applications/</c></term><description>yes: a read</description></item>
/// <item><term><c>PUT api/serve/applications/</c></term><description>yes: the full declarative config, a whole-state replace (a 500 traceback is never retried)</description></item>
/// </list>
/// </summary>
public sealed class RayDashboardClient : IDisposable
{
    private const string ApplicationsPath = "api/serve/applications/";
    private readonly IFlurlClient _http;

    /// <param name="http">The process's factory (<see cref="MLRayHttpClients.AddMLRayHttpClients"/>): its handlers and telemetry.</param>
    public RayDashboardClient(Uri dashboardAddress, IHttpClientFactory http, string? authToken = null)
    {
        Address = dashboardAddress;
        _http = new FlurlClient(http.CreateClient(MLRayHttpClients.Ray), dashboardAddress.ToString().TrimEnd('/'))
            .WithHeader("User-Agent", $"mlray/{typeof(RayDashboardClient).Assembly.GetName().Version}")
            .WithSettings(s => s.Timeout = null) // the client's resilience pipeline times each attempt and the whole request
            .AllowAnyHttpStatus();
        if (!string.IsNullOrEmpty(authToken))
            _http.WithOAuthBearerToken(authToken);
    }

    public static RayDashboardClient ForCluster(RayClusterConfig cluster, IEnvironment env, IHttpClientFactory http)
    {
        string? token = null;
        if (cluster.AuthTokenEnv is { } name)
            token = env.Get(name) ?? throw new ConfigException($"ray_clusters[{cluster.Name}].auth_token_env",
                $"names {name}, which is not set in the environment");
        return new RayDashboardClient(cluster.DashboardAddress, http, token);
    }

    public Uri Address { get; }

    public async Task<ServeInstance> GetApplicationsAsync(CancellationToken ct = default)
    {
        using var response = await Applications().GetAsync(cancellationToken: ct);
        var body = await response.GetStringAsync();
        if (response.StatusCode != 200)
            throw new RayRejectedException(response.StatusCode, body);
        try
        {
            return JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) is JsonObject doc
                ? ServeInstance.Parse(doc)
                : throw new RayRejectedException(response.StatusCode, "response is not a JSON object: " + Excerpt(body));
        }
        // A proxy's HTML page, or text no .NET string can hold (an unpaired \ud800 escape): Ray's answer is unusable.
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new RayRejectedException(response.StatusCode, $"response is not Serve's JSON ({e.Message}): {Excerpt(body)}");
        }
    }

    /// <summary>PUTs the full declarative config. Ray answers 200 once its controller accepted it, not once apps run.</summary>
    public async Task PutApplicationsAsync(JsonObject config, CancellationToken ct = default)
    {
        using var content = new StringContent(config.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var response = await Applications().PutAsync(content, cancellationToken: ct);
        if (response.StatusCode != 200)
            throw new RayRejectedException(response.StatusCode, await response.GetStringAsync());
    }

    private IFlurlRequest Applications() => _http.Request(ApplicationsPath).RetryWhenTransient().ForEndpoint("/" + ApplicationsPath);

    private static string Excerpt(string body) => body.Length > 500 ? body[..500] + "…" : body;

    public void Dispose() => _http.Dispose();
}
