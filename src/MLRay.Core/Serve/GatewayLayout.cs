using System.Globalization;

namespace MLRay.Serve;

/// <summary>One version's share of a route's traffic through the gateway (weight 0: pinned requests only).</summary>
public sealed record VersionShare(string Version, string App, int Weight);

/// <summary>A version that gets copies of a fraction of a route's requests, its answers discarded.</summary>
public sealed record ShadowShare(string Version, string App, double Fraction);

/// <summary>Who serves one model's route through the gateway.</summary>
public sealed record GatewayRoute(string Route, string RegisteredModel, IReadOnlyList<VersionShare> Versions, IReadOnlyList<ShadowShare> Shadow);

/// <summary>
/// Pure: the Serve layout of <c>traffic: gateway</c> (docs/serving.md, a contract with <c>mlray_serve.gateway</c>): one
/// app per model version without a route, and the <c>mlray-gateway</c> app whose <c>user_config</c> is the routing table.
/// </summary>
public static class GatewayLayout
{
    public const string AppName = DeploymentTags.ReservedGatewayName;
    public const string ImportPath = "mlray_serve.gateway:build";
    public const string DeploymentName = "MLRayGateway";
    /// <summary>The arg that marks the gateway app as MLRay's (model apps carry <see cref="ServeApp.ManagedModelArg"/>).</summary>
    public const string GatewayArg = "mlray_gateway";
    public const string StatsPath = "mlray-gateway/stats";

    public static string VersionAppName(string name, string version) => $"{name}--v{version}";

    /// <summary>A direct-mode app as the version app of gateway mode: renamed, without a route, otherwise the same.</summary>
    public static JsonObject VersionApp(JsonObject directApp)
    {
        var app = (JsonObject)directApp.DeepClone();
        app["name"] = VersionAppName((string)directApp["name"]!, (string)directApp["args"]![ServeApp.ManagedVersionArg]!);
        app["route_prefix"] = null;
        return app;
    }

    /// <summary>The gateway app for <paramref name="routes"/>; only its <c>user_config</c> changes as weights move (Ray's lightweight update).</summary>
    public static JsonObject GatewayApp(RayClusterConfig cluster, IEnumerable<GatewayRoute> routes)
    {
        var gateway = cluster.Serving.Gateway;
        var table = new JsonObject();
        foreach (var r in routes.OrderBy(r => r.Route, StringComparer.Ordinal))
        {
            var entry = new JsonObject
            {
                ["model"] = r.RegisteredModel,
                ["versions"] = new JsonArray([.. r.Versions.Select(v => (JsonNode)new JsonObject { ["version"] = v.Version, ["app"] = v.App, ["weight"] = v.Weight })]),
            };
            if (r.Shadow.Count > 0)
                entry["shadow"] = new JsonArray([.. r.Shadow.Select(s => (JsonNode)new JsonObject { ["version"] = s.Version, ["app"] = s.App, ["fraction"] = s.Fraction })]);
            table[ClientRoute(gateway.RoutePrefix, r.Route)] = entry;
        }
        return new JsonObject
        {
            ["name"] = AppName,
            ["route_prefix"] = gateway.RoutePrefix,
            ["import_path"] = ImportPath,
            ["args"] = new JsonObject { [GatewayArg] = cluster.Name },
            ["deployments"] = new JsonArray(new JsonObject
            {
                ["name"] = DeploymentName,
                ["num_replicas"] = gateway.Replicas,
                ["ray_actor_options"] = new JsonObject { ["num_cpus"] = gateway.NumCpus },
                ["user_config"] = new JsonObject
                {
                    ["stats_window_s"] = (int)Math.Round(gateway.StatsWindow.TotalSeconds),
                    ["routes"] = table,
                },
            }),
        };
    }

    /// <summary>The routes of a gateway app as deployed (to keep those of models whose state could not be recomputed).</summary>
    public static IReadOnlyList<GatewayRoute> RoutesOf(JsonObject? gatewayApp, string routePrefix)
    {
        var routes = new List<GatewayRoute>();
        if (gatewayApp?["deployments"] is not JsonArray deployments) return routes;
        var table = deployments.OfType<JsonObject>().FirstOrDefault(d => (string?)d["name"] == DeploymentName)?["user_config"]?["routes"] as JsonObject;
        foreach (var (route, node) in table ?? [])
        {
            if (node is not JsonObject entry || (string?)entry["model"] is not { } model) continue;
            var versions = (entry["versions"] as JsonArray ?? []).OfType<JsonObject>()
                .Select(v => new VersionShare((string)v["version"]!, (string)v["app"]!, (int)v["weight"]!)).ToList();
            var shadow = (entry["shadow"] as JsonArray ?? []).OfType<JsonObject>()
                .Select(v => new ShadowShare((string)v["version"]!, (string)v["app"]!, (double)v["fraction"]!)).ToList();
            routes.Add(new GatewayRoute(ModelRoute(routePrefix, route), model, versions, shadow));
        }
        return routes;
    }

    /// <summary>A model's route as clients send it on <paramref name="cluster"/>: its own (direct), or under the gateway's prefix.</summary>
    public static string ClientRoute(RayClusterConfig cluster, string route) =>
        cluster.Serving.Traffic == TrafficMode.Gateway ? ClientRoute(cluster.Serving.Gateway.RoutePrefix, route) : route;

    /// <summary>A model's route (<c>ray.route_prefix</c>) as clients send it: under the gateway's own prefix.</summary>
    public static string ClientRoute(string gatewayPrefix, string route) =>
        gatewayPrefix == "/" ? route : gatewayPrefix.TrimEnd('/') + route;

    private static string ModelRoute(string gatewayPrefix, string clientRoute) =>
        gatewayPrefix == "/" || !clientRoute.StartsWith(gatewayPrefix.TrimEnd('/'), StringComparison.Ordinal) ? clientRoute
            : clientRoute[gatewayPrefix.TrimEnd('/').Length..];

    /// <summary>The URL of the gateway's stats on a cluster.</summary>
    public static Uri StatsUri(RayClusterConfig cluster) =>
        new(cluster.EffectiveServeAddress, (cluster.Serving.Gateway.RoutePrefix.TrimEnd('/') + "/" + StatsPath).TrimStart('/'));

    public static string Percent(int weight) => weight.ToString(CultureInfo.InvariantCulture) + " %";
}
