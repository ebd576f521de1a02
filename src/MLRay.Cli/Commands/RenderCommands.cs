using System.CommandLine;
using MLRay.Cli.Rendering;
using MLRay.Deploy;
using MLRay.Serve;

namespace MLRay.Cli.Commands;

/// <summary><c>mlray render kuberay</c>: the cluster as a KubeRay RayService, for users who run Ray on Kubernetes.</summary>
public static class RenderCommands
{
    public static Command Create() => new("render", "Write a cluster's desired state in another tool's format")
    {
        KubeRay(),
    };

    private static Command KubeRay()
    {
        var command = new Command("kuberay",
            "Print a KubeRay RayService (ray.io/v1) whose serveConfigV2 is the Serve config `mlray deploy` would PUT now")
        {
            DeployCommands.ConfigArgument, DeployCommands.ClusterArgument,
        };
        command.SetAction((parse, ct) => DeployCommands.Run(parse.GetValue(DeployCommands.ConfigArgument)!,
            // stdout carries only the YAML (for kubectl apply -f -): as for --output json, the console is stderr.
            parse.GetValue(DeployCommands.ClusterArgument)!, json: true,
            async (services, cluster, console, _) =>
            {
                if (cluster.KubeRay.Image is null)
                {
                    var index = services.Config.Clusters.ToList().IndexOf(cluster);
                    throw new ConfigException($"ray_clusters[{index}].kuberay.image",
                        $"required by render kuberay: the image of the cluster's Ray nodes (Python {cluster.PythonVersion} with mlray_serve, e.g. built from docker/ray-serve-py*.Dockerfile)");
                }
                // The same plan deploy computes: the registry's apps merged into what runs, foreign apps kept.
                var planned = await services.Reconciler(cluster).PlanAsync(ct: ct);
                var (desired, plan) = (planned.Desired, planned.Plan);
                Console.Out.Write(KubeRayRenderer.Render(cluster, plan.Config));
                if (desired.Models.Any(m => m.Kind == ModelOutcomeKind.Invalid))
                {
                    ReportRenderer.WriteModels(console, desired);
                    return ExitCodes.ModelsNotRunning;
                }
                return ExitCodes.Success;
            }, ct));
        return command;
    }
}
