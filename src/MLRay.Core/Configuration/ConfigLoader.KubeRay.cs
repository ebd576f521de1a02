using System.Text.RegularExpressions;

namespace MLRay.Configuration;

/// <summary>The <c>ray_clusters[].kuberay</c> section (read by <c>mlray render kuberay</c> only).</summary>
public static partial class ConfigLoader
{
    [GeneratedRegex(@"^\d+(\.\d+)?m?$")]
    private static partial Regex CpuQuantity();

    [GeneratedRegex(@"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")]
    private static partial Regex MemoryQuantity();

    private static KubeRaySettings ReadKubeRay(Node node)
    {
        node.RefuseUnknownKeys("image", "ray_version", "head", "workers");
        var defaults = new KubeRaySettings();
        var head = node.Child("head") is { } h ? ReadResources(h, defaults.Head, "cpu", "memory") : defaults.Head;
        var workers = defaults.Workers;
        if (node.Child("workers") is { } w)
        {
            var resources = ReadResources(w, workers.Resources, "cpu", "memory", "replicas", "min_replicas", "max_replicas");
            var replicas = Count(w, "replicas") ?? workers.Replicas;
            var min = Count(w, "min_replicas") ?? Math.Min(replicas, workers.MinReplicas);
            var max = Count(w, "max_replicas") ?? Math.Max(replicas, workers.MaxReplicas);
            if (min > replicas || replicas > max)
                throw new ConfigException(w.Path, $"needs min_replicas ≤ replicas ≤ max_replicas; got {min} ≤ {replicas} ≤ {max}");
            workers = new WorkerGroup { Replicas = replicas, MinReplicas = min, MaxReplicas = max, Resources = resources };
        }
        return new KubeRaySettings
        {
            Image = node.OptionalString("image"),
            RayVersion = node.OptionalString("ray_version") ?? defaults.RayVersion,
            Head = head,
            Workers = workers,
        };
    }

    private static PodResources ReadResources(Node node, PodResources defaults, params string[] known)
    {
        node.RefuseUnknownKeys(known);
        var cpu = node.OptionalString("cpu") ?? defaults.Cpu;
        if (!CpuQuantity().IsMatch(cpu))
            throw new ConfigException(node.PathOf("cpu"), $"'{cpu}' is not a Kubernetes CPU quantity (examples: 2, 0.5, 500m)");
        var memory = node.OptionalString("memory") ?? defaults.Memory;
        if (!MemoryQuantity().IsMatch(memory))
            throw new ConfigException(node.PathOf("memory"), $"'{memory}' is not a Kubernetes memory quantity (examples: 4Gi, 512Mi)");
        return new PodResources(cpu, memory);
    }

    private static int? Count(Node node, string key) => node.OptionalString(key) is not { } text ? null
        : int.TryParse(text, out var n) && n >= 0 ? n
        : throw new ConfigException(node.PathOf(key), $"'{text}' is not a whole number ≥ 0");
}
