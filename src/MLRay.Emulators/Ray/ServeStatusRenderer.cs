using System.Text.Json.Nodes;

namespace MLRay.Emulators.Ray;

/// <summary>
/// Renders the Serve state as <c>GET /api/serve/applications/</c> answers it (Ray's <c>ServeInstanceDetails</c>, with the
/// fields the configured Ray version has). Pure: reads the state it is given, changes nothing; the store calls it
/// under its lock, and every node it returns is a detached copy.
/// </summary>
internal sealed class ServeStatusRenderer(RayClusterIdentity cluster, RayEmulatorOptions options)
{
    /// <summary>The body of GET: Serve's instance details, with the apps of <paramref name="apiType"/> when given.</summary>
    public JsonObject Instance(ServeInstance serve, string? apiType)
    {
        if (!serve.Started)
        {
            return new JsonObject
            {
                ["deploy_mode"] = "MULTI_APP",
                ["controller_info"] = new JsonObject(),
                ["proxies"] = new JsonObject(),
                ["applications"] = new JsonObject(),
                ["target_capacity"] = null,
            };
        }
        var applications = new JsonObject();
        foreach (var app in serve.Apps)
        {
            if (apiType is not null && app.Source != apiType) continue;
            applications[app.Name] = App(app);
        }
        return new JsonObject
        {
            ["controller_info"] = new JsonObject
            {
                ["node_id"] = cluster.NodeId,
                ["node_ip"] = "127.0.0.1",
                ["node_instance_id"] = "",
                ["actor_id"] = cluster.ControllerActorId,
                ["actor_name"] = "SERVE_CONTROLLER_ACTOR",
                ["worker_id"] = cluster.ControllerWorkerId,
                ["log_file_path"] = $"/serve/controller_{cluster.ControllerPid}.log",
            },
            ["proxy_location"] = serve.ProxyLocation,
            ["http_options"] = serve.HttpOptions.DeepClone(),
            ["grpc_options"] = serve.GrpcOptions.DeepClone(),
            ["proxies"] = serve.ProxyLocation == "Disabled" ? new JsonObject() : new JsonObject
            {
                [cluster.NodeId] = new JsonObject
                {
                    ["node_id"] = cluster.NodeId,
                    ["node_ip"] = "127.0.0.1",
                    ["node_instance_id"] = "",
                    ["actor_id"] = cluster.ProxyActorId,
                    ["actor_name"] = "SERVE_PROXY_ACTOR-" + cluster.NodeId,
                    ["worker_id"] = cluster.ProxyWorkerId,
                    ["log_file_path"] = $"/serve/proxy_127.0.0.1_{cluster.ProxyPid}.log",
                    ["status"] = "HEALTHY",
                },
            },
            ["deploy_mode"] = "MULTI_APP",
            ["applications"] = applications,
            ["target_capacity"] = serve.TargetCapacity?.DeepClone(),
        };
    }

    /// <summary>The app's <c>status</c> as Ray shows it.</summary>
    public static string StatusOf(AppPhase phase) => phase switch
    {
        AppPhase.Building or AppPhase.Updating or AppPhase.Pending => "DEPLOYING",
        AppPhase.Running => "RUNNING",
        AppPhase.BuildFailed or AppPhase.DeployFailed => "DEPLOY_FAILED",
        _ => "DELETING",
    };

    /// <summary>One app's entry of <c>applications</c>.</summary>
    public JsonObject App(ServeApp app)
    {
        var status = StatusOf(app.Phase);
        var o = new JsonObject
        {
            ["name"] = app.Name,
            ["route_prefix"] = app.HasBuilt ? app.RoutePrefix : null,
            ["docs_path"] = null,
            ["status"] = status,
            ["message"] = app.Message,
            ["last_deployed_time_s"] = app.LastDeployed,
            ["deployed_app_config"] = app.Config?.DeepClone(),
        };
        if (options.RayVersionAtLeast(2, 35)) o["source"] = app.Source;
        var deployments = new JsonObject();
        if (app.Phase is not (AppPhase.Building or AppPhase.BuildFailed))
            foreach (var dep in app.Deployments) deployments[dep.Name] = Deployment(app, dep);
        o["deployments"] = deployments;
        if (options.RayVersionAtLeast(2, 51)) o["external_scaler_enabled"] = app.Config?["external_scaler_enabled"]?.DeepClone() ?? false;
        return o;
    }

    private JsonObject Deployment(ServeApp app, ServeDeployment dep)
    {
        var replicas = new JsonArray();
        foreach (var r in dep.Replicas)
        {
            var actorName = $"SERVE_REPLICA::{app.Name}#{dep.Name}#{r.Id}";
            if (r.State == "STARTING" && r.Pid is null)
            {
                replicas.Add(new JsonObject
                {
                    ["replica_id"] = r.Id,
                    ["state"] = r.State,
                    ["actor_name"] = actorName,
                    ["start_time_s"] = r.StartTime,
                });
                continue;
            }
            replicas.Add(new JsonObject
            {
                ["node_id"] = cluster.NodeId,
                ["node_ip"] = "127.0.0.1",
                ["node_instance_id"] = "",
                ["actor_id"] = r.ActorId,
                ["actor_name"] = actorName,
                ["worker_id"] = r.WorkerId,
                ["log_file_path"] = $"/serve/replica_{app.Name}_{dep.Name}_{r.Id}.log",
                ["replica_id"] = r.Id,
                ["state"] = r.State,
                ["pid"] = r.Pid,
                ["start_time_s"] = r.StartTime,
            });
        }
        return new JsonObject
        {
            ["name"] = dep.Name,
            ["status"] = dep.Status,
            ["status_trigger"] = dep.Trigger,
            ["message"] = dep.Message,
            ["deployment_config"] = dep.Config.DeepClone(),
            ["target_num_replicas"] = dep.Target,
            ["required_resources"] = dep.Resources.DeepClone(),
            ["replicas"] = replicas,
        };
    }
}
