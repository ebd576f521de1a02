using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// The emulated cluster's Serve state machine — apps, deployments, replicas, the bad-env cache, every PUT and build —
/// apart from the HTTP handlers and from the rendering of GET (<see cref="ServeStatusRenderer"/>). Every member takes
/// the store's lock; transitions are evaluated lazily, on each read.
/// </summary>
internal sealed partial class RayClusterStore
{
    private readonly object _lock = new();
    private readonly List<string> _putBodies = new();
    private readonly List<BuildRecord> _builds = new();
    private readonly Dictionary<string, int> _replicaStarts = new(StringComparer.Ordinal);
    private int _putCount;

    private readonly ServeInstance _serve = new();
    private readonly Dictionary<string, (string Message, DateTime Expires)> _badEnvCache = new(StringComparer.Ordinal);
    private readonly ServeStatusRenderer _render;

    public RayClusterStore(RayEmulatorOptions options)
    {
        Options = options;
        Cluster = RayClusterIdentity.CreateRandom();
        _render = new ServeStatusRenderer(Cluster, options);
    }

    public RayEmulatorOptions Options { get; }

    /// <summary>The node's and Serve actors' ids (in <c>/api/ray/version</c>, tracebacks and the rendered status).</summary>
    public RayClusterIdentity Cluster { get; }

    public IReadOnlyList<string> PutBodies
    {
        get { lock (_lock) return _putBodies.ToArray(); }
    }

    public IReadOnlyList<BuildRecord> Builds
    {
        get { lock (_lock) return _builds.ToArray(); }
    }

    public int PutCount
    {
        get { lock (_lock) return _putCount; }
    }

    /// <summary>Replicas started per app name, ever (a lightweight update starts none; a code update replaces them all).</summary>
    public IReadOnlyDictionary<string, int> ReplicaStarts
    {
        get { lock (_lock) return new Dictionary<string, int>(_replicaStarts, StringComparer.Ordinal); }
    }

    /// <summary>
    /// The Serve proxy's route table now: every app with a route and an endpoint (built at least once, not being deleted),
    /// with what its replicas serve. A route comes from the running replicas while some run (an update that moves the
    /// route takes effect when it completes), else from the last build.
    /// </summary>
    public ProxyView ProxyView()
    {
        lock (_lock)
        {
            Advance(Now());
            if (!_serve.Started) return new ProxyView(false, false, []);
            var endpoints = new List<ServeEndpoint>();
            foreach (var app in _serve.Apps)
            {
                if (app.Phase == AppPhase.Deleting) continue;
                var route = app.Serving is { } serving ? serving.RoutePrefix : app.HasBuilt ? app.RoutePrefix : null;
                if (route is not null) endpoints.Add(new ServeEndpoint(route, app.Name, app.Serving));
            }
            if (endpoints.Count > 0) _serve.RouteTablePopulated = true;
            return new ProxyView(true, _serve.RouteTablePopulated, endpoints);
        }
    }

    /// <summary>What the app's replicas serve now, for a handle call; null when it does not exist, is being deleted or has no running replica.</summary>
    public ServingApp? ServingApp(string name)
    {
        lock (_lock)
        {
            Advance(Now());
            var app = _serve.Apps.FirstOrDefault(a => a.Name == name);
            return app is null || app.Phase == AppPhase.Deleting ? null : app.Serving;
        }
    }

    /// <summary>Counts a PUT that reached the applications route, whatever becomes of it.</summary>
    public void CountPut()
    {
        lock (_lock) _putCount++;
    }

    /// <summary>Takes one from a fault counter of <see cref="Options"/>; false when it is already 0.</summary>
    public bool TryConsume(Func<int> get, Action<int> set)
    {
        lock (_lock)
        {
            var v = get();
            if (v <= 0) return false;
            set(v - 1);
            return true;
        }
    }

    /// <summary>What GET shows now: the instance, filtered by <c>api_type</c> when given.</summary>
    public JsonObject Instance(string? apiType)
    {
        lock (_lock)
        {
            Advance(Now());
            return _render.Instance(_serve, apiType);
        }
    }

    /// <summary>Applies a validated declarative config (a full replace) and keeps its raw body.</summary>
    public void Apply(JsonObject config, string raw)
    {
        lock (_lock)
        {
            Apply(config, Now());
            _putBodies.Add(raw);
        }
    }

    /// <summary>DELETE: shuts Serve down.</summary>
    public void ShutdownServe()
    {
        lock (_lock) Shutdown();
    }

    // ------------------------------------------------------------------ lifecycle

    private void StartServe(JsonObject? body)
    {
        _serve.Started = true;
        _serve.ProxyLocation = Json.AsString(body?["proxy_location"]) ?? "EveryNode";
        _serve.HttpOptions = new JsonObject
        {
            ["host"] = "0.0.0.0",
            ["port"] = 8000,
            ["root_path"] = "",
            ["request_timeout_s"] = null,
            ["keep_alive_timeout_s"] = 90,
        };
        if (body?["http_options"] is JsonObject http)
            foreach (var kv in http) _serve.HttpOptions[kv.Key] = kv.Value?.DeepClone();
        _serve.GrpcOptions = new JsonObject { ["port"] = 9000, ["grpc_servicer_functions"] = new JsonArray(), ["request_timeout_s"] = null };
        if (body?["grpc_options"] is JsonObject grpc)
            foreach (var kv in grpc) _serve.GrpcOptions[kv.Key] = kv.Value?.DeepClone();
    }

    private void Shutdown()
    {
        _serve.Started = false;
        _serve.Apps.Clear();
        _serve.TargetCapacity = null;
        _serve.RouteTablePopulated = false; // the proxies stop with Serve; new ones start with an empty table
    }

    private void Apply(JsonObject body, DateTime now)
    {
        Advance(now);
        if (!_serve.Started) StartServe(body);
        _serve.TargetCapacity = body["target_capacity"]?.DeepClone();
        var nowS = UnixSeconds(now);
        var names = new HashSet<string>(StringComparer.Ordinal);
        // By name, the first of each as a list search would find it: a PUT of thousands of apps looks each up once. Not kept up
        // to date below: a PUT names each app once (ServeValidation refuses duplicates).
        var byName = new Dictionary<string, ServeApp>(StringComparer.Ordinal);
        foreach (var app in _serve.Apps) byName.TryAdd(app.Name, app);
        foreach (var node in (JsonArray)body["applications"]!)
        {
            var config = (JsonObject)node!.DeepClone();
            var name = Json.AsString(config["name"]) ?? "default";
            names.Add(name);
            var canonical = Json.Canonical(config);
            var code = CodeVersionOf(config);
            var existing = byName.GetValueOrDefault(name);
            if (existing is null || existing.Phase == AppPhase.Deleting || existing.Source != "declarative")
            {
                if (existing is not null) _serve.Apps.Remove(existing);
                var app = new ServeApp { Name = name, Config = config, Canonical = canonical, CodeVersion = code };
                StartBuild(app, now);
                app.LastDeployed = nowS;
                _serve.Apps.Add(app);
                continue;
            }
            existing.LastDeployed = nowS;
            if (existing.Canonical == canonical)
            {
                // Unchanged config: nothing to do, except that a failed build is retried (its code version was cleared).
                if (existing.Phase == AppPhase.BuildFailed) StartBuild(existing, now);
                continue;
            }
            existing.Config = config;
            existing.Canonical = canonical;
            if (existing.CodeVersion != code || !existing.HasBuilt || existing.Phase is AppPhase.Building or AppPhase.BuildFailed)
            {
                existing.CodeVersion = code;
                StartBuild(existing, now);
            }
            else
            {
                StartUpdate(existing, now);
            }
        }

        var keepImperative = Options.RayVersionAtLeast(2, 35);
        foreach (var app in _serve.Apps)
        {
            if (names.Contains(app.Name) || app.Phase == AppPhase.Deleting) continue;
            if (keepImperative && app.Source != "declarative") continue;
            app.Phase = AppPhase.Deleting;
            app.Message = "";
            app.PhaseEnds = now + Options.BuildTime;
            app.Serving = null; // Ray removes the endpoint as deletion starts
            foreach (var dep in app.Deployments)
            {
                dep.Status = "UPDATING";
                dep.Trigger = "DELETING";
                dep.Message = "";
                foreach (var r in dep.Replicas) r.State = "STOPPING";
            }
        }
    }

    private static string CodeVersionOf(JsonObject config) => Json.Canonical(new JsonObject
    {
        ["import_path"] = config["import_path"]?.DeepClone(),
        ["runtime_env"] = config["runtime_env"]?.DeepClone(),
        ["args"] = config["args"]?.DeepClone(),
    });

    private string BadEnvKey(ServeApp app) =>
        NormaliseArch(Options.Architecture) + "|" + Json.Canonical(app.Config?["runtime_env"]);

    private void StartBuild(ServeApp app, DateTime now)
    {
        app.Phase = AppPhase.Building;
        app.Message = "";
        var duration = Options.BuildTime;
        if (_badEnvCache.TryGetValue(BadEnvKey(app), out var cached) && cached.Expires > now)
        {
            duration = TimeSpan.FromTicks(Options.BuildTime.Ticks / 4);
        }
        else
        {
            foreach (var req in PipRequirements(app.Config?["runtime_env"]))
                if (Options.SlowPackages.TryGetValue(ParseRequirement(req).Name, out var extra)) duration += extra;
        }
        app.PhaseEnds = now + duration;
    }

    /// <summary>
    /// A deployment-only update (same code version). Replicas whose replica version is unchanged (<c>user_config</c>,
    /// <c>num_replicas</c>, … only) are kept — Ray calls <c>reconfigure</c> on them — so no replica starts and no build runs;
    /// they serve their last config (<see cref="ServeApp.Serving"/>) until the update completes, then the new one.
    /// </summary>
    private void StartUpdate(ServeApp app, DateTime now)
    {
        var (deployments, error) = ComputeDeployments(app, duringBuild: false);
        if (deployments is null)
        {
            FailBuild(app, error!);
            app.CodeVersion = "";
            return;
        }
        var old = app.Deployments;
        foreach (var dep in deployments)
        {
            var previous = old.FirstOrDefault(d => d.Name == dep.Name);
            if (previous is not null && previous.ReplicaVersion == dep.ReplicaVersion)
            {
                dep.Replicas.AddRange(previous.Replicas.Where(r => r.State == "RUNNING"));
                dep.Status = dep.Target > previous.Target ? "UPSCALING" : dep.Target < previous.Target ? "DOWNSCALING" : "UPDATING";
            }
            else
            {
                dep.Status = "UPDATING";
            }
            dep.Trigger = "CONFIG_UPDATE_STARTED";
        }
        app.Deployments = deployments;
        app.Phase = AppPhase.Updating;
        app.Message = "";
        app.PhaseEnds = now + Options.BuildTime;
    }

    private static void FailBuild(ServeApp app, string message)
    {
        app.Phase = AppPhase.BuildFailed;
        app.Message = message;
    }

    /// <summary>Applies every transition whose time has come (called under the lock on each read and write).</summary>
    private void Advance(DateTime now)
    {
        foreach (var expired in _badEnvCache.Where(kv => kv.Value.Expires <= now).Select(kv => kv.Key).ToList())
            _badEnvCache.Remove(expired);
        _serve.Apps.RemoveAll(a => a.Phase == AppPhase.Deleting && now >= a.PhaseEnds);
        var used = new Allocation(_serve.Apps);
        foreach (var app in _serve.Apps.OrderBy(a => a.LastDeployed).ToList())
        {
            if (app.Phase == AppPhase.Building && now >= app.PhaseEnds) FinishBuild(app, now, used);
            else if (app.Phase == AppPhase.Updating && now >= app.PhaseEnds) Schedule(app, now, used);
        }
        foreach (var app in _serve.Apps.Where(a => a.Phase == AppPhase.Pending).OrderBy(a => a.LastDeployed).ToList())
            Schedule(app, now, used);
    }

    /// <summary>
    /// CPUs and GPUs the cluster's replicas hold, summed once per <see cref="Advance"/> and kept up to date as it schedules:
    /// thousands of apps finishing their builds together would otherwise each sum every other app's replicas.
    /// </summary>
    private sealed class Allocation(IEnumerable<ServeApp> apps)
    {
        public double Cpus { get; set; } = apps.Sum(AllocatedCpus);
        public double Gpus { get; set; } = apps.Sum(AllocatedGpus);
    }

    private void FinishBuild(ServeApp app, DateTime now, Allocation used)
    {
        var envKey = BadEnvKey(app);
        if (_badEnvCache.TryGetValue(envKey, out var cached) && cached.Expires > now)
        {
            _builds.Add(new BuildRecord(app.Name, Json.Canonical(app.Config?["runtime_env"]), FromBadEnvCache: true, Failed: true));
            FailBuild(app, cached.Message.Replace("{app}", app.Name, StringComparison.Ordinal));
            return;
        }
        var requirements = PipRequirements(app.Config?["runtime_env"]);
        var missing = MissingWheel(requirements);
        _builds.Add(new BuildRecord(app.Name, Json.Canonical(app.Config?["runtime_env"]), FromBadEnvCache: false, Failed: missing is not null));
        if (missing is { } failing)
        {
            var template = RayMessages.RuntimeEnvSetupFailed("{app}", Options.PythonVersion, NormaliseArch(Options.Architecture), Cluster.SessionName, requirements, failing, ParseRequirement(failing).Name);
            _badEnvCache[envKey] = (template, now + TimeSpan.FromSeconds(600));
            FailBuild(app, template.Replace("{app}", app.Name, StringComparison.Ordinal));
            return;
        }
        var importPath = Json.AsString(app.Config?["import_path"]) ?? "";
        var module = importPath.Split(':')[0].Split('.')[0];
        if (!Options.ImportableModules.Contains(module))
        {
            FailBuild(app, RayMessages.ModuleNotFound(app.Name, Options.PythonVersion, module));
            return;
        }
        var (deployments, error) = ComputeDeployments(app, duringBuild: true);
        if (deployments is null)
        {
            FailBuild(app, error!);
            return;
        }
        app.HasBuilt = true;
        app.RoutePrefix = EffectiveRoutePrefix(app.Config!);
        // A code update replaces every replica (new replica version); old replicas leave with the old target.
        app.Deployments = deployments;
        Schedule(app, now, used);
    }

    private static string? EffectiveRoutePrefix(JsonObject config) =>
        config.TryGetPropertyValue("route_prefix", out var r) ? Json.AsString(r) : "/";

    /// <summary>Decides what the app's deployments do once built/updated: fail on replica runtime_env, wait for resources, or run.</summary>
    private void Schedule(ServeApp app, DateTime now, Allocation used)
    {
        var (cpus, gpus) = (AllocatedCpus(app), AllocatedGpus(app));
        Schedule(app, now, used.Cpus - cpus, used.Gpus - gpus);
        used.Cpus += AllocatedCpus(app) - cpus;
        used.Gpus += AllocatedGpus(app) - gpus;
    }

    /// <param name="usedCpu">What the other apps' replicas hold.</param>
    private void Schedule(ServeApp app, DateTime now, double usedCpu, double usedGpu)
    {
        app.RoutePrefix = app.Config is null ? app.RoutePrefix : EffectiveRoutePrefix(app.Config);
        var failed = new List<string>();
        foreach (var dep in app.Deployments)
        {
            var requirements = PipRequirements(dep.MergedRuntimeEnv);
            if (MissingWheel(requirements) is { } failing)
            {
                dep.Status = "DEPLOY_FAILED";
                dep.Trigger = "REPLICA_STARTUP_FAILED";
                dep.Message = RayMessages.ReplicaStartupFailed(Math.Min(20, Math.Max(1, dep.Target) * 3),
                    RayMessages.ReplicaRuntimeEnvError(failing, ParseRequirement(failing).Name, NormaliseArch(Options.Architecture)));
                dep.Replicas.Clear();
                failed.Add(dep.Name);
            }
        }
        var live = app.Deployments.Where(d => d.Status != "DEPLOY_FAILED").ToList();
        var needCpu = live.Sum(d => d.Target * d.Cpus);
        var needGpu = live.Sum(d => d.Target * d.Gpus);
        var freeCpu = Math.Max(0, Options.TotalCpus - usedCpu);
        var freeGpu = Math.Max(0, Options.TotalGpus - usedGpu);
        if (needCpu > freeCpu + 1e-9 || needGpu > freeGpu + 1e-9)
        {
            foreach (var dep in live)
            {
                dep.Status = "UPDATING";
                dep.Trigger = "CONFIG_UPDATE_STARTED";
                var available = new JsonObject { ["CPU"] = freeCpu };
                if (Options.TotalGpus > 0) available["GPU"] = freeGpu;
                dep.Message = RayMessages.SlowScheduling(dep.Name, app.Name, dep.Target, PyDict(dep.Resources), PyDict(available));
                dep.Replicas.RemoveAll(r => r.State != "STARTING");
                while (dep.Replicas.Count < dep.Target) dep.Replicas.Add(NewReplica(app.Name, now, running: false));
                if (dep.Replicas.Count > dep.Target) dep.Replicas.RemoveRange(dep.Target, dep.Replicas.Count - dep.Target);
            }
            app.Phase = failed.Count > 0 ? AppPhase.DeployFailed : AppPhase.Pending;
            app.Message = failed.Count > 0 ? $"Failed to update the deployments {PyList(failed)}." : "";
            return;
        }
        foreach (var dep in live)
        {
            dep.Replicas.RemoveAll(r => r.State is not ("RUNNING" or "STARTING"));
            if (dep.Replicas.Count > dep.Target) dep.Replicas.RemoveRange(dep.Target, dep.Replicas.Count - dep.Target);
            foreach (var r in dep.Replicas.Where(r => r.State == "STARTING"))
            {
                r.State = "RUNNING";
                r.Pid = Random.Shared.Next(1000, 60000);
                r.StartTime = UnixSeconds(now);
            }
            while (dep.Replicas.Count < dep.Target) dep.Replicas.Add(NewReplica(app.Name, now, running: true));
            dep.Status = "HEALTHY";
            dep.Trigger = "CONFIG_UPDATE_COMPLETED";
            dep.Message = "";
        }
        if (failed.Count > 0)
        {
            app.Phase = AppPhase.DeployFailed;
            app.Message = $"Failed to update the deployments {PyList(failed)}.";
        }
        else
        {
            app.Phase = AppPhase.Running;
            app.Message = "";
            // The replicas now run this config: a new build's, or the old replicas reconfigured (a lightweight update).
            app.Serving = ServingOf(app);
        }
    }

    private static ServingApp ServingOf(ServeApp app) => new()
    {
        Name = app.Name,
        RoutePrefix = app.RoutePrefix,
        ImportPath = Json.AsString(app.Config?["import_path"]),
        Args = app.Config?["args"] is JsonObject args ? (JsonObject)args.DeepClone() : new JsonObject(),
        UserConfigs = app.Deployments.ToDictionary(d => d.Name, d => d.Config["user_config"]?.DeepClone(), StringComparer.Ordinal),
        ReplicaVersion = string.Join("|", app.Deployments.Select(d => d.ReplicaVersion)),
    };

    private static double AllocatedCpus(ServeApp app) =>
        app.Deployments.Sum(d => d.Replicas.Count(r => r.State is "RUNNING" or "STOPPING") * d.Cpus);

    private static double AllocatedGpus(ServeApp app) =>
        app.Deployments.Sum(d => d.Replicas.Count(r => r.State is "RUNNING" or "STOPPING") * d.Gpus);

    private ServeReplica NewReplica(string app, DateTime now, bool running)
    {
        _replicaStarts[app] = _replicaStarts.GetValueOrDefault(app) + 1;
        return new ServeReplica
        {
            Id = RandomIds.ReplicaId(),
            State = running ? "RUNNING" : "STARTING",
            Pid = running ? Random.Shared.Next(1000, 60000) : null,
            StartTime = running ? UnixSeconds(now) : 0,
            ActorId = RandomIds.Hex(32),
            WorkerId = RandomIds.Hex(56),
        };
    }

    // ------------------------------------------------------------------ deployments

    private (List<ServeDeployment>? Deployments, string? Error) ComputeDeployments(ServeApp app, bool duringBuild)
    {
        var config = app.Config!;
        var available = Options.DeploymentsOf(Json.AsString(config["import_path"])).OrderBy(d => d, StringComparer.Ordinal).ToList();
        var overrides = (config["deployments"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
        foreach (var o in overrides)
        {
            var name = Json.AsString(o["name"]) ?? "";
            if (!available.Contains(name))
                return (null, RayMessages.DeploymentDoesNotExist(Options.PythonVersion, name, available, duringBuild));
        }
        var result = new List<ServeDeployment>();
        foreach (var name in available)
        {
            var o = overrides.FirstOrDefault(x => Json.AsString(x["name"]) == name);
            result.Add(BuildDeployment(app.Name, name, o, config["runtime_env"] as JsonObject, app.CodeVersion));
        }
        return (result, null);
    }

    private static ServeDeployment BuildDeployment(string appName, string name, JsonObject? o, JsonObject? appEnv, string codeVersion)
    {
        o ??= new JsonObject();
        var dc = new JsonObject { ["name"] = name };
        JsonObject? autoscaling = null;
        var numReplicas = o["num_replicas"];
        if (Json.AsString(numReplicas) == "auto")
        {
            autoscaling = AutoscalingDefaults(auto: true);
            if (o["autoscaling_config"] is JsonObject ac) foreach (var kv in ac) autoscaling[kv.Key] = kv.Value?.DeepClone();
        }
        else if (o["autoscaling_config"] is JsonObject ac)
        {
            autoscaling = AutoscalingDefaults(auto: false);
            foreach (var kv in ac) autoscaling[kv.Key] = kv.Value?.DeepClone();
        }
        int target;
        if (autoscaling is null)
        {
            target = Json.IsInteger(numReplicas, out var n) && n > 0 ? (int)n : 1;
            dc["num_replicas"] = target;
        }
        else
        {
            var initial = Json.IsInteger(autoscaling["initial_replicas"], out var ini) ? (int?)ini : null;
            var min = Json.IsInteger(autoscaling["min_replicas"], out var mn) ? (int)mn : 1;
            target = Math.Max(1, initial ?? min);
        }
        dc["max_ongoing_requests"] = o["max_ongoing_requests"]?.DeepClone() ?? 5;
        dc["max_queued_requests"] = o["max_queued_requests"]?.DeepClone() ?? -1;
        dc["user_config"] = o["user_config"]?.DeepClone();
        if (autoscaling is not null) dc["autoscaling_config"] = autoscaling;
        dc["graceful_shutdown_wait_loop_s"] = o["graceful_shutdown_wait_loop_s"]?.DeepClone() ?? 2.0;
        dc["graceful_shutdown_timeout_s"] = o["graceful_shutdown_timeout_s"]?.DeepClone() ?? 20.0;
        dc["health_check_period_s"] = o["health_check_period_s"]?.DeepClone() ?? 10.0;
        dc["health_check_timeout_s"] = o["health_check_timeout_s"]?.DeepClone() ?? 30.0;

        var rao = o["ray_actor_options"] is JsonObject given ? (JsonObject)given.DeepClone() : new JsonObject();
        if (rao["num_cpus"] is null) rao["num_cpus"] = 1.0;
        var mergedEnv = MergeRuntimeEnv(appEnv, rao["runtime_env"] as JsonObject);
        rao["runtime_env"] = mergedEnv.DeepClone();
        dc["ray_actor_options"] = rao;
        foreach (var key in new[] { "placement_group_bundles", "placement_group_strategy", "max_replicas_per_node", "logging_config", "request_router_config" })
            if (o.TryGetPropertyValue(key, out var v)) dc[key] = v?.DeepClone();

        Json.TryDouble(rao["num_cpus"], out var cpus);
        Json.TryDouble(rao["num_gpus"], out var gpus);
        var resources = new JsonObject { ["CPU"] = cpus };
        if (gpus > 0) resources["GPU"] = gpus;
        if (rao["memory"] is { } memory && Json.TryDouble(memory, out var mem) && mem > 0) resources["memory"] = memory.DeepClone();
        if (rao["resources"] is JsonObject custom)
            foreach (var kv in custom) resources[kv.Key] = kv.Value?.DeepClone();

        var replicaVersion = Json.Canonical(new JsonObject
        {
            ["code"] = codeVersion,
            ["ray_actor_options"] = rao.DeepClone(),
            ["placement_group_bundles"] = o["placement_group_bundles"]?.DeepClone(),
            ["placement_group_strategy"] = o["placement_group_strategy"]?.DeepClone(),
            ["max_replicas_per_node"] = o["max_replicas_per_node"]?.DeepClone(),
        });
        return new ServeDeployment
        {
            Name = name,
            Config = dc,
            ReplicaVersion = replicaVersion,
            Target = target,
            Cpus = cpus,
            Gpus = gpus,
            Resources = resources,
            MergedRuntimeEnv = mergedEnv,
        };
    }

    private static JsonObject AutoscalingDefaults(bool auto) => new()
    {
        ["min_replicas"] = 1,
        ["initial_replicas"] = null,
        ["max_replicas"] = auto ? 100 : 1,
        ["target_ongoing_requests"] = 2.0,
        ["metrics_interval_s"] = 10.0,
        ["look_back_period_s"] = 30.0,
        ["smoothing_factor"] = 1.0,
        ["upscale_smoothing_factor"] = null,
        ["downscale_smoothing_factor"] = null,
        ["upscaling_factor"] = null,
        ["downscaling_factor"] = null,
        ["downscale_delay_s"] = 600.0,
        ["upscale_delay_s"] = 30.0,
    };

    /// <summary>ServeDeployment runtime_env overrides the app's key by key, except env_vars which are merged (deployment wins).</summary>
    private static JsonObject MergeRuntimeEnv(JsonObject? app, JsonObject? dep)
    {
        var result = app is null ? new JsonObject() : (JsonObject)app.DeepClone();
        if (dep is null) return result;
        foreach (var kv in dep)
        {
            if (kv.Key == "env_vars" && result["env_vars"] is JsonObject appVars && kv.Value is JsonObject depVars)
            {
                var merged = (JsonObject)appVars.DeepClone();
                foreach (var v in depVars) merged[v.Key] = v.Value?.DeepClone();
                result["env_vars"] = merged;
            }
            else
            {
                result[kv.Key] = kv.Value?.DeepClone();
            }
        }
        return result;
    }

    // ------------------------------------------------------------------ pip

    private static List<string> PipRequirements(JsonNode? runtimeEnv)
    {
        var pip = runtimeEnv?["pip"];
        var list = pip switch
        {
            JsonArray a => a,
            JsonObject o => o["packages"] as JsonArray,
            _ => null,
        };
        return list?.Select(Json.AsString).Where(s => !string.IsNullOrWhiteSpace(s)).Select(s => s!.Trim()).ToList() ?? [];
    }

    internal static (string Name, string? Version) ParseRequirement(string requirement)
    {
        var spec = requirement.Split(';')[0].Trim();
        var m = RequirementPattern().Match(spec);
        if (!m.Success) return (spec.ToLowerInvariant(), null);
        var name = Regex.Replace(m.Groups["name"].Value, "[-_.]+", "-").ToLowerInvariant();
        var version = m.Groups["op"].Value is "==" or "===" ? m.Groups["ver"].Value.Trim() : null;
        return (name, m.Groups["op"].Success && m.Groups["op"].Value.Length > 0 && version is null ? "?" + m.Groups["op"].Value + m.Groups["ver"].Value : version);
    }

    [GeneratedRegex(@"^(?<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?:(?<op>===|==|~=|!=|<=|>=|<|>)\s*(?<ver>[^\s,;]+))?")]
    private static partial Regex RequirementPattern();

    private static string NormaliseArch(string arch) => arch.Trim().ToLowerInvariant() switch
    {
        "arm64" => "aarch64",
        "amd64" or "x64" => "x86_64",
        var a => a,
    };

    /// <summary>The first requirement (as written) that has no wheel on the current architecture, if any.</summary>
    private string? MissingWheel(IReadOnlyList<string> requirements)
    {
        var arch = NormaliseArch(Options.Architecture);
        foreach (var req in requirements)
        {
            var (name, version) = ParseRequirement(req);
            foreach (var (missing, missingArch) in Options.MissingWheels)
            {
                if (NormaliseArch(missingArch) != arch) continue;
                var (mName, mVersion) = ParseRequirement(missing);
                if (mName != name) continue;
                if (mVersion is null || mVersion == version) return req;
            }
        }
        return null;
    }

    // ------------------------------------------------------------------ Python text in messages

    private static string PyList(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(Py.Repr)) + "]";

    private static string PyDict(JsonObject o) =>
        "{" + string.Join(", ", o.Select(kv => "\"" + kv.Key + "\": " + (Json.TryDouble(kv.Value, out var d) && kv.Value!.ToJsonString().Contains('.') || kv.Key is "CPU" or "GPU" ? RayMessages.PyFloat(d) : kv.Value?.ToJsonString() ?? "null"))) + "}";

    // ------------------------------------------------------------------ seeding and inspection

    /// <summary>
    /// Adds an app as if created with <c>serve.run</c>: source "imperative", <c>deployed_app_config</c> null,
    /// RUNNING with one replica. Newest Ray (≥ 2.35) keeps it across declarative PUTs; older versions delete it.
    /// </summary>
    public void DeployImperativeApp(string name, string routePrefix)
    {
        lock (_lock)
        {
            var now = Now();
            Advance(now);
            if (!_serve.Started) StartServe(null);
            _serve.Apps.RemoveAll(a => a.Name == name);
            var depName = Options.AvailableDeployments.OrderBy(d => d, StringComparer.Ordinal).FirstOrDefault() ?? "MLflowModel";
            var app = new ServeApp
            {
                Name = name,
                Source = "imperative",
                HasBuilt = true,
                RoutePrefix = routePrefix,
                LastDeployed = UnixSeconds(now),
                Phase = AppPhase.Running,
            };
            var dep = BuildDeployment(name, depName, null, new JsonObject(), "imperative:" + name);
            dep.Status = "HEALTHY";
            dep.Trigger = "CONFIG_UPDATE_COMPLETED";
            dep.Replicas.Add(NewReplica(name, now, running: true));
            app.Deployments.Add(dep);
            app.Serving = new ServingApp { Name = name, RoutePrefix = routePrefix, ReplicaVersion = dep.ReplicaVersion };
            _serve.Apps.Add(app);
        }
    }

    /// <summary>The app as GET would show it now (a detached copy), or null when absent.</summary>
    public JsonObject? GetApplication(string name)
    {
        lock (_lock)
        {
            Advance(Now());
            var app = _serve.Apps.FirstOrDefault(a => a.Name == name);
            return app is null ? null : _render.App(app);
        }
    }

    /// <summary>How many apps GET would show in each status now (no rendering: cheap with thousands of apps).</summary>
    public IReadOnlyDictionary<string, int> StatusCounts()
    {
        lock (_lock)
        {
            Advance(Now());
            return _serve.Apps.GroupBy(a => ServeStatusRenderer.StatusOf(a.Phase)).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        }
    }

    // ------------------------------------------------------------------ clock

    private DateTime Now() => (Options.TimeProvider ?? TimeProvider.System).GetUtcNow().UtcDateTime;

    private static double UnixSeconds(DateTime utc) => (utc - DateTime.UnixEpoch).TotalMilliseconds / 1000.0;
}
