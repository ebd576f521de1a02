using System.Text.RegularExpressions;

namespace MLRay.Configuration;

/// <summary>The <c>ray_clusters[].kuberay</c> section (read by <c>mlray render kuberay</c> only).</summary>
public static partial class ConfigLoader
{
    [GeneratedRegex(@"^\d+(\.\d+)?m?$")]
    private static partial Regex CpuQuantity();

    [GeneratedRegex(@"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")]
    private static partial Regex MemoryQuantity();

    private static KubeRaySettings ReadKubeRay(Node node, Problems problems)
    {
        problems.Check(() => node.RefuseUnknownKeys("image", "ray_version", "head", "workers"));
        var defaults = new KubeRaySettings();
        var head = problems.Check(() => node.Child("head") is { } h ? ReadResources(h, defaults.Head, problems, "cpu", "memory") : defaults.Head);
        var workers = defaults.Workers;
        if (problems.Check(() => node.Child("workers")) is { } w)
        {
            var failures = problems.Failures;
            var resources = ReadResources(w, workers.Resources, problems, "cpu", "memory", "replicas", "min_replicas", "max_replicas");
            var replicas = problems.Check(() => Count(w, "replicas")) ?? workers.Replicas;
            var min = problems.Check(() => Count(w, "min_replicas")) ?? Math.Min(replicas, workers.MinReplicas);
            var max = problems.Check(() => Count(w, "max_replicas")) ?? Math.Max(replicas, workers.MaxReplicas);
            // Only when each count was read: a wrong one is its own problem, not also an ordering one.
            if (problems.Failures == failures && (min > replicas || replicas > max))
                problems.Add(new ConfigException(w.Path, $"needs min_replicas ≤ replicas ≤ max_replicas; got {min} ≤ {replicas} ≤ {max}"));
            workers = new WorkerGroup { Replicas = replicas, MinReplicas = min, MaxReplicas = max, Resources = resources };
        }
        return new KubeRaySettings
        {
            Image = problems.Check(() => node.OptionalString("image")),
            RayVersion = problems.Check(() => node.OptionalString("ray_version")) ?? defaults.RayVersion,
            Head = head ?? defaults.Head,
            Workers = workers,
        };
    }

    private static PodResources ReadResources(Node node, PodResources defaults, Problems problems, params string[] known)
    {
        problems.Check(() => node.RefuseUnknownKeys(known));
        var cpu = problems.Check(() => node.OptionalString("cpu") is not { } text ? defaults.Cpu
            : CpuQuantity().IsMatch(text) ? text
            : throw new ConfigException(node.PathOf("cpu"), $"'{text}' is not a Kubernetes CPU quantity (examples: 2, 0.5, 500m)"));
        var memory = problems.Check(() => node.OptionalString("memory") is not { } text ? defaults.Memory
            : MemoryQuantity().IsMatch(text) ? text
            : throw new ConfigException(node.PathOf("memory"), $"'{text}' is not a Kubernetes memory quantity (examples: 4Gi, 512Mi)"));
        return new PodResources(cpu ?? defaults.Cpu, memory ?? defaults.Memory);
    }

    private static int? Count(Node node, string key) => node.OptionalString(key) is not { } text ? null
        : int.TryParse(text, out var n) && n >= 0 ? n
        : throw new ConfigException(node.PathOf(key), $"'{text}' is not a whole number ≥ 0");
}
