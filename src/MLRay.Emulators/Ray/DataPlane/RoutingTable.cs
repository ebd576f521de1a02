using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>A version a route draws by weight (0–100), or reaches only when pinned (weight 0).</summary>
internal sealed record RouteVersion(string Version, string App, int Weight);

/// <summary>A version that gets a copy of a <see cref="Fraction"/> of a route's unpinned requests.</summary>
internal sealed record ShadowVersion(string Version, string App, double Fraction);

internal sealed record GatewayRoute(string Prefix, string Model, IReadOnlyList<RouteVersion> Versions, IReadOnlyList<ShadowVersion> Shadow)
{
    /// <summary>Every version a request may pin, in the table's order: the weighted ones, then the shadows.</summary>
    public IEnumerable<string> PinnableVersions => Versions.Select(v => v.Version).Concat(Shadow.Select(s => s.Version)).Distinct();

    public bool IsShadow(string version) => Versions.All(v => v.Version != version) && Shadow.Any(s => s.Version == version);
}

/// <summary>
/// The gateway's routing table: the <c>user_config</c> of its <c>MLRayGateway</c> deployment (docs/serving.md). Read
/// leniently: an entry without a model, version or app is skipped, a missing <c>stats_window_s</c> is 300.
/// </summary>
internal sealed record RoutingTable(double WindowSeconds, IReadOnlyList<GatewayRoute> Routes)
{
    public const double DefaultWindowSeconds = 300;

    public static RoutingTable Parse(JsonNode? userConfig)
    {
        var window = Json.TryDouble(userConfig?["stats_window_s"], out var w) && w > 0 ? w : DefaultWindowSeconds;
        var routes = new List<GatewayRoute>();
        if (userConfig?["routes"] is JsonObject table)
        {
            foreach (var (prefix, node) in table)
            {
                if (node is not JsonObject route || Json.AsString(route["model"]) is not { } model) continue;
                var versions = Entries(route["versions"])
                    .Select(e => new RouteVersion(e.Version, e.App, Json.IsInteger(e.Node["weight"], out var weight) ? (int)weight : 0))
                    .ToList();
                var shadow = Entries(route["shadow"])
                    .Select(e => new ShadowVersion(e.Version, e.App, Json.TryDouble(e.Node["fraction"], out var f) ? Math.Clamp(f, 0, 1) : 0))
                    .ToList();
                routes.Add(new GatewayRoute(prefix, model, versions, shadow));
            }
        }
        return new RoutingTable(window, routes);
    }

    private static IEnumerable<(string Version, string App, JsonObject Node)> Entries(JsonNode? list)
    {
        foreach (var node in (list as JsonArray)?.OfType<JsonObject>() ?? [])
        {
            // A version may be written as a number (3) or a string ("3"); the header compares text.
            var version = node["version"] is JsonValue v && v.GetValueKind() == JsonValueKind.Number
                ? Json.NumberOf(v).ToString(CultureInfo.InvariantCulture)
                : Json.AsString(node["version"]);
            if (version is not null && Json.AsString(node["app"]) is { } app) yield return (version, app, node);
        }
    }

    /// <summary>The route with the longest prefix covering <paramref name="path"/> on whole segments, or null.</summary>
    public GatewayRoute? Match(string path) => RoutePrefixes.Longest(path, Routes, r => r.Prefix);
}
