namespace MLRay.Serve;

/// <summary>A model version chosen for a cluster, with everything needed to build its Serve application.</summary>
public sealed record ModelDeployment(string RegisteredModel, string Version, DeploymentSpec Spec, ModelEnvironment Environment)
{
    public string ModelUri => $"models:/{RegisteredModel}/{Version}";
}

public enum AppChangeKind { Unchanged, Added, Updated, Removed, Foreign }

/// <summary>What a PUT would do to one application.</summary>
/// <summary>What a PUT would do to one application. <paramref name="Version"/> is the model version the app serves now (removals) or will serve.</summary>
public sealed record AppChange(string App, AppChangeKind Kind, string? RegisteredModel, string? Version = null, string? PreviousVersion = null);

/// <summary>The complete config to PUT and what it changes. No PUT is needed when nothing differs.</summary>
public sealed record ServePlan(JsonObject Config, IReadOnlyList<AppChange> Changes)
{
    public bool NeedsPut => Changes.Any(c => c.Kind is AppChangeKind.Added or AppChangeKind.Updated or AppChangeKind.Removed);
    public IEnumerable<AppChange> Applied => Changes.Where(c => c.Kind is AppChangeKind.Added or AppChangeKind.Updated);
}

/// <summary>Pure functions: model → Serve application; desired apps + running config → the config to PUT.</summary>
public static class ServeConfigPlanner
{
    /// <summary>The builder in the <c>mlray_serve</c> package installed on the Ray images.</summary>
    public const string ImportPath = "mlray_serve.app:build";
    /// <summary>The deployment the builder creates (overrides must name it, or Ray fails the app).</summary>
    public const string DeploymentName = "MLflowModel";

    public static JsonObject BuildApplication(ModelDeployment model, RayClusterConfig cluster)
    {
        var spec = model.Spec;
        var envVars = new JsonObject { ["MLFLOW_TRACKING_URI"] = cluster.MlflowTrackingUri.ToString().TrimEnd('/') };
        foreach (var (k, v) in cluster.EnvVars) envVars[k] = v;
        foreach (var (k, v) in spec.EnvVars) envVars[k] = v;

        var actorOptions = new JsonObject { ["num_cpus"] = spec.NumCpus, ["memory"] = spec.MemoryBytes };
        if (spec.NumGpus is { } gpus) actorOptions["num_gpus"] = gpus;

        var deployment = new JsonObject { ["name"] = DeploymentName };
        if (spec.NumReplicas is { } replicas) deployment["num_replicas"] = replicas;
        if (spec.HasAutoscaling)
        {
            var autoscaling = new JsonObject();
            if (spec.MinReplicas is { } min) autoscaling["min_replicas"] = min;
            if (spec.MaxReplicas is { } max) autoscaling["max_replicas"] = max;
            if (spec.TargetOngoingRequests is { } target) autoscaling["target_ongoing_requests"] = target;
            deployment["autoscaling_config"] = autoscaling;
        }
        if (spec.MaxOngoingRequests is { } ongoing) deployment["max_ongoing_requests"] = ongoing;
        if (spec.MaxBatchSize is { } batch)
        {
            // mlray_serve's reconfigure reads these and resizes its batch queue in place (no replica restart).
            var userConfig = new JsonObject { ["max_batch_size"] = batch };
            if (spec.BatchWaitTimeoutS is { } wait) userConfig["batch_wait_timeout_s"] = wait;
            deployment["user_config"] = userConfig;
        }
        deployment["ray_actor_options"] = actorOptions;

        var pip = RequirementsFile.WithExtraPins(model.Environment.Pip, cluster.ExtraPip);
        var runtimeEnv = new JsonObject();
        if (pip.Count > 0) runtimeEnv["pip"] = new JsonArray([.. pip.Select(p => (JsonNode)p)]);
        runtimeEnv["env_vars"] = envVars;

        return new JsonObject
        {
            ["name"] = spec.Name,
            ["route_prefix"] = spec.RoutePrefix,
            ["import_path"] = ImportPath,
            ["args"] = new JsonObject
            {
                ["model_uri"] = model.ModelUri,
                [ServeApp.ManagedModelArg] = model.RegisteredModel,
                [ServeApp.ManagedVersionArg] = model.Version,
            },
            ["runtime_env"] = runtimeEnv,
            ["deployments"] = new JsonArray(deployment),
        };
    }

    /// <summary>
    /// Merges MLRay's desired apps into the running config. Apps MLRay does not own are carried over exactly as
    /// deployed; MLRay apps of models in <paramref name="keepAsIs"/> (whose current state could not be
    /// recomputed, e.g. a broken tag) keep serving unchanged; other MLRay apps not desired are removed.
    /// </summary>
    /// <param name="keepApps">MLRay apps carried over unchanged by name (the old layout while a <c>traffic</c> change starts, <see cref="ServeLayoutMigration"/>).</param>
    public static ServePlan Plan(IReadOnlyList<JsonObject> desiredApps, ServeInstance current, IReadOnlySet<string> keepAsIs, IReadOnlySet<string>? keepApps = null)
    {
        var changes = new List<AppChange>();
        var apps = new JsonArray();
        var desiredByName = desiredApps.ToDictionary(a => (string)a["name"]!, StringComparer.Ordinal);

        foreach (var app in current.Applications.Values)
        {
            if (app.DeployedAppConfig is null) continue; // imperative (serve.run) apps: Ray leaves them alone on PUT
            var owner = app.ManagedModel ?? (app.IsGateway ? GatewayLayout.AppName : null);
            if (owner is null && !desiredByName.ContainsKey(app.Name))
            {
                apps.Add(app.DeployedAppConfig.DeepClone());
                changes.Add(new AppChange(app.Name, AppChangeKind.Foreign, null));
            }
            else if (owner is not null && !desiredByName.ContainsKey(app.Name))
            {
                if (keepAsIs.Contains(owner) || keepApps?.Contains(app.Name) == true)
                {
                    apps.Add(app.DeployedAppConfig.DeepClone());
                    changes.Add(new AppChange(app.Name, AppChangeKind.Unchanged, owner));
                }
                else changes.Add(new AppChange(app.Name, AppChangeKind.Removed, owner, app.ManagedVersion));
            }
        }

        foreach (var desired in desiredApps.OrderBy(a => (string)a["name"]!, StringComparer.Ordinal))
        {
            var name = (string)desired["name"]!;
            var model = (string?)desired["args"]![ServeApp.ManagedModelArg] ?? GatewayLayout.AppName;
            var version = (string?)desired["args"]![ServeApp.ManagedVersionArg];
            apps.Add(desired.DeepClone());
            var kind = !current.Applications.TryGetValue(name, out var running) ? AppChangeKind.Added
                : JsonCanon.Equal(running.DeployedAppConfig, desired) ? AppChangeKind.Unchanged
                : AppChangeKind.Updated;
            changes.Add(new AppChange(name, kind, model, version, running?.ManagedVersion));
        }

        var config = new JsonObject { ["applications"] = apps };
        if (current.Raw["target_capacity"] is JsonValue capacity && capacity.GetValueKind() == JsonValueKind.Number)
            config["target_capacity"] = capacity.DeepClone();
        return new ServePlan(config, changes);
    }
}
