namespace MLRay.Serve;

/// <summary>Ray's application status values (contracts/ray.md §3.1).</summary>
public static class AppStatus
{
    public const string Deploying = "DEPLOYING";
    public const string Running = "RUNNING";
    public const string DeployFailed = "DEPLOY_FAILED";
    public const string Unhealthy = "UNHEALTHY";
    public const string Deleting = "DELETING";
    public const string NotStarted = "NOT_STARTED";
}

public sealed record DeploymentStatus(string Name, string Status, string Message);

/// <summary>One application as GET <c>/api/serve/applications/</c> reports it. Parsed leniently: Ray omits unset keys.</summary>
public sealed record ServeApp(
    string Name,
    string Status,
    string Message,
    string? Source,
    string? RoutePrefix,
    JsonObject? DeployedAppConfig,
    IReadOnlyList<DeploymentStatus> Deployments)
{
    public const string ManagedModelArg = "mlray_model";
    public const string ManagedVersionArg = "mlray_version";

    /// <summary>The registered model this app serves, when MLRay created it; null for apps MLRay does not own.</summary>
    public string? ManagedModel => StringArg(ManagedModelArg);

    /// <summary>Whether MLRay owns the app: a model's app, or the gateway of <c>traffic: gateway</c>.</summary>
    public bool IsMLRays => ManagedModel is not null || IsGateway;

    /// <summary>MLRay's gateway app (<see cref="GatewayLayout"/>).</summary>
    public bool IsGateway => StringArg(GatewayLayout.GatewayArg) is not null;

    /// <summary>The model version this MLRay app serves.</summary>
    public string? ManagedVersion => StringArg(ManagedVersionArg);

    private string? StringArg(string key) =>
        DeployedAppConfig?["args"] is JsonObject args && args[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>() : null;

    /// <summary>Ray's message for a failed app, with failing deployments' messages when the app message alone says little.</summary>
    public string FailureMessage =>
        string.Join("\n", new[] { Message }.Concat(Deployments.Where(d => d.Status != "HEALTHY" && d.Message.Length > 0)
            .Select(d => $"{d.Name}: {d.Message}")).Where(s => s.Length > 0));
}

/// <summary>GET <c>/api/serve/applications/</c>: the apps, and the raw document for what MLRay does not model.</summary>
public sealed record ServeInstance(IReadOnlyDictionary<string, ServeApp> Applications, JsonObject Raw)
{
    public static ServeInstance Parse(JsonObject raw)
    {
        var apps = new Dictionary<string, ServeApp>(StringComparer.Ordinal);
        if (raw["applications"] is JsonObject appsNode)
            foreach (var (name, node) in appsNode)
            {
                if (node is not JsonObject app) continue;
                var deployments = new List<DeploymentStatus>();
                if (app["deployments"] is JsonObject deps)
                    foreach (var (depName, depNode) in deps)
                        deployments.Add(new DeploymentStatus(depName, Str(depNode?["status"]) ?? "", Str(depNode?["message"]) ?? ""));
                apps[name] = new ServeApp(
                    name,
                    Str(app["status"]) ?? "",
                    Str(app["message"]) ?? "",
                    Str(app["source"]),
                    Str(app["route_prefix"]),
                    app["deployed_app_config"] as JsonObject,
                    deployments);
            }
        return new ServeInstance(apps, raw);
    }

    private static string? Str(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}
