namespace MLRay.Serve;

/// <summary>The cluster's <c>traffic</c> layout cannot be applied as it is; nothing was changed on the cluster.</summary>
public sealed class ServeLayoutException(string message) : Exception(message);

/// <summary>
/// Pure: moving a cluster between <c>traffic: direct</c> and <c>gateway</c> without losing a request. The new layout's
/// apps start while the old layout's keep serving (a direct app's route is longer than the gateway's <c>/</c>, so it wins
/// while both exist); the old apps go only once every new app runs with the config sent.
/// </summary>
public static class ServeLayoutMigration
{
    /// <summary>The names of the old layout's apps to carry over unchanged in this PUT (none once the new layout runs).</summary>
    public static IReadOnlySet<string> Keep(RayClusterConfig cluster, IReadOnlyList<JsonObject> desiredApps, ServeInstance current)
    {
        var gateway = cluster.Serving.Traffic == TrafficMode.Gateway;
        var desired = desiredApps.Select(a => (string)a["name"]!).ToHashSet(StringComparer.Ordinal);
        var old = current.Applications.Values
            .Where(a => a.IsMLRays && !desired.Contains(a.Name)
                        && (gateway ? a is { IsGateway: false, RoutePrefix: not null } : a.IsGateway || a is { ManagedModel: not null, RoutePrefix: null }))
            .Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
        if (old.Count == 0) return old;
        var newLayoutRuns = desiredApps.All(a => current.Applications.TryGetValue((string)a["name"]!, out var app)
                                                  && app.Status == AppStatus.Running && JsonCanon.Equal(app.DeployedAppConfig, a));
        return newLayoutRuns ? new HashSet<string>() : old;
    }

    /// <summary>Gateway mode needs the gateway's route: an app MLRay does not own there makes it refuse, naming that app.</summary>
    public static void CheckGatewayRoute(RayClusterConfig cluster, ServeInstance current)
    {
        if (cluster.Serving.Traffic != TrafficMode.Gateway) return;
        var prefix = cluster.Serving.Gateway.RoutePrefix;
        if (current.Applications.Values.FirstOrDefault(a => !a.IsMLRays && a.RoutePrefix == prefix) is { } foreign)
            throw new ServeLayoutException(
                $"traffic: gateway on {cluster.Name} needs route '{prefix}' for the {GatewayLayout.AppName} app, but application '{foreign.Name}' " +
                $"(not MLRay's) has it; nothing was changed: move that app or set gateway.route_prefix");
    }
}
