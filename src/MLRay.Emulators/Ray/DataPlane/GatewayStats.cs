using System.Text.Json.Nodes;

namespace MLRay.Emulators.Ray;

/// <summary>
/// What one gateway's replicas count of the calls they make (docs/serving.md, <c>GET …mlray-gateway/stats</c>): per route and
/// version, every answered call with its latency and whether it was an error (a status of 500 or more), kept for the table's
/// <c>stats_window_s</c>. Thread-safe. Lives as long as the gateway's replicas: a lightweight update keeps it, a restart does not.
/// </summary>
internal sealed class GatewayStats
{
    private sealed record Sample(string Route, string Model, string Version, bool Shadow, double LatencyMs, bool Error, DateTimeOffset At);

    private readonly object _gate = new();
    private readonly List<Sample> _samples = new();

    public void Record(GatewayRoute route, string version, TimeSpan latency, int status, DateTimeOffset at)
    {
        lock (_gate)
            _samples.Add(new Sample(route.Prefix, route.Model, version, route.IsShadow(version), latency.TotalMilliseconds, status >= 500, at));
    }

    /// <summary>The stats body over the window ending at <paramref name="now"/>: every route and version of the table (zeros when they
    /// got nothing), then any route or version that got calls in the window but has left the table since.</summary>
    public JsonObject Render(RoutingTable table, DateTimeOffset now)
    {
        List<Sample> window;
        lock (_gate)
        {
            var cutoff = now - TimeSpan.FromSeconds(table.WindowSeconds);
            _samples.RemoveAll(s => s.At <= cutoff);
            window = _samples.ToList();
        }
        var routes = new JsonObject();
        foreach (var route in table.Routes)
        {
            var versions = new JsonObject();
            foreach (var v in route.Versions.Where(v => !versions.ContainsKey(v.Version)))
                versions[v.Version] = Counts(window.Where(s => s.Route == route.Prefix && s.Version == v.Version).ToList(), shadow: false);
            foreach (var s in route.Shadow.Where(s => !versions.ContainsKey(s.Version)))
                versions[s.Version] = Counts(window.Where(x => x.Route == route.Prefix && x.Version == s.Version).ToList(), shadow: true);
            routes[route.Prefix] = new JsonObject { ["model"] = route.Model, ["versions"] = versions };
        }
        foreach (var gone in window.GroupBy(s => (s.Route, s.Version)))
        {
            if (routes[gone.Key.Route] is not JsonObject route)
            {
                route = new JsonObject { ["model"] = gone.First().Model, ["versions"] = new JsonObject() };
                routes[gone.Key.Route] = route;
            }
            var versions = (JsonObject)route["versions"]!;
            if (!versions.ContainsKey(gone.Key.Version)) versions[gone.Key.Version] = Counts(gone.ToList(), gone.Last().Shadow);
        }
        return new JsonObject
        {
            ["window_s"] = table.WindowSeconds == Math.Floor(table.WindowSeconds) ? JsonValue.Create((long)table.WindowSeconds) : JsonValue.Create(table.WindowSeconds),
            ["routes"] = routes,
        };
    }

    private static JsonObject Counts(List<Sample> samples, bool shadow)
    {
        var latencies = samples.Select(s => s.LatencyMs).Order().ToList();
        return new JsonObject
        {
            ["requests"] = samples.Count,
            ["errors"] = samples.Count(s => s.Error),
            ["p50_ms"] = NearestRank(latencies, 50),
            ["p99_ms"] = NearestRank(latencies, 99),
            ["shadow"] = shadow,
        };
    }

    /// <summary>The nearest-rank percentile of sorted latencies, to 0.1 ms; null for none.</summary>
    private static JsonNode? NearestRank(List<double> sorted, int percentile)
    {
        if (sorted.Count == 0) return null;
        var rank = Math.Max(1, (int)Math.Ceiling(percentile / 100.0 * sorted.Count));
        return JsonValue.Create(Math.Round(sorted[rank - 1], 1));
    }
}
