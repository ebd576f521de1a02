using MLRay.Http;

namespace MLRay.Serve;

/// <summary>One version's traffic on one route over the gateway's stats window.</summary>
public sealed record VersionStats(long Requests, long Errors, double? P50Ms, double? P99Ms, bool Shadow)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
}

/// <summary>
/// <c>GET &lt;gateway&gt;/mlray-gateway/stats</c> (docs/serving.md): per route and version, requests, 5xx errors and
/// latency percentiles over the window, summed over the gateway's replicas.
/// </summary>
public sealed record GatewayStats(double WindowSeconds, IReadOnlyDictionary<string, IReadOnlyDictionary<string, VersionStats>> Routes)
{
    public static readonly GatewayStats Empty = new(0, new Dictionary<string, IReadOnlyDictionary<string, VersionStats>>());

    /// <summary>The stats of one route (as clients send it), by version; empty when the gateway saw none.</summary>
    public IReadOnlyDictionary<string, VersionStats> For(string clientRoute) =>
        Routes.TryGetValue(clientRoute, out var versions) ? versions : new Dictionary<string, VersionStats>();

    public static GatewayStats Parse(JsonObject json)
    {
        var routes = new Dictionary<string, IReadOnlyDictionary<string, VersionStats>>(StringComparer.Ordinal);
        foreach (var (route, node) in json["routes"] as JsonObject ?? [])
        {
            var versions = new Dictionary<string, VersionStats>(StringComparer.Ordinal);
            foreach (var (version, v) in node?["versions"] as JsonObject ?? [])
                if (v is JsonObject s)
                    versions[version] = new VersionStats((long?)s["requests"] ?? 0, (long?)s["errors"] ?? 0, (double?)s["p50_ms"], (double?)s["p99_ms"], (bool?)s["shadow"] ?? false);
            routes[route] = versions;
        }
        return new GatewayStats((double?)json["window_s"] ?? 0, routes);
    }

    /// <summary>Reads a cluster's gateway stats through its Serve proxy.</summary>
    public static async Task<GatewayStats> ReadAsync(IHttpClientFactory http, RayClusterConfig cluster, CancellationToken ct = default)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(MLRayHttpClients.AttemptTimeout);
        using var response = await http.CreateClient(MLRayHttpClients.Serve).GetAsync(GatewayLayout.StatsUri(cluster), timer.Token);
        var body = await response.Content.ReadAsStringAsync(timer.Token);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"the gateway's stats at {GatewayLayout.StatsUri(cluster)} answered HTTP {(int)response.StatusCode}: {body[..Math.Min(body.Length, 200)]}");
        return Parse(JsonNode.Parse(body) as JsonObject ?? throw new HttpRequestException($"the gateway's stats at {GatewayLayout.StatsUri(cluster)} are not a JSON object"));
    }
}
