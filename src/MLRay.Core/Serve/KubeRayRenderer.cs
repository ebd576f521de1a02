using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace MLRay.Serve;

/// <summary>
/// A KubeRay <c>RayService</c> (<c>ray.io/v1</c>) for one cluster (contracts ray.md §6.3). Its <c>serveConfigV2</c> is
/// the Serve config <c>mlray deploy</c> would PUT, written as indented JSON: JSON is YAML, so the operator reads it
/// as it reads any serveConfigV2, and the text stays byte-comparable with the PUT body.
/// </summary>
public static class KubeRayRenderer
{
    /// <summary>Ports of a Ray head: GCS, dashboard (the Serve REST API the operator PUTs to), Ray client, Serve HTTP.</summary>
    private static readonly (string Name, int Port)[] HeadPorts = [("gcs-server", 6379), ("dashboard", 8265), ("client", 10001), ("serve", RayClusterConfig.DefaultServePort)];

    public static string Render(RayClusterConfig cluster, JsonObject serveConfig)
    {
        var kuberay = cluster.KubeRay;
        var image = kuberay.Image ?? throw new ArgumentException($"cluster '{cluster.Name}' has no kuberay.image", nameof(cluster));
        var serveConfigText = serveConfig.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

        var head = Map(
            ("rayStartParams", Map(("dashboard-host", Str("0.0.0.0")))),
            ("template", PodTemplate("ray-head", image, kuberay.Head, HeadPorts)));
        var workers = Map(
            ("groupName", Str("workers")),
            ("replicas", Num(kuberay.Workers.Replicas)),
            ("minReplicas", Num(kuberay.Workers.MinReplicas)),
            ("maxReplicas", Num(kuberay.Workers.MaxReplicas)),
            ("rayStartParams", new YamlMappingNode()),
            ("template", PodTemplate("ray-worker", image, kuberay.Workers.Resources, [])));
        var root = Map(
            ("apiVersion", Str("ray.io/v1")),
            ("kind", Str("RayService")),
            ("metadata", Map(("name", Str(cluster.Name)), ("labels", Map(("app.kubernetes.io/managed-by", Str("mlray")),
                ("mlray.io/python-version", Str(cluster.PythonVersion.ToString())))))),
            ("spec", Map(
                ("serveConfigV2", new YamlScalarNode(serveConfigText) { Style = ScalarStyle.Literal }),
                ("rayClusterConfig", Map(
                    ("rayVersion", Str(kuberay.RayVersion)),
                    ("headGroupSpec", head),
                    ("workerGroupSpecs", new YamlSequenceNode(workers)))))));

        var writer = new StringWriter();
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        // YamlStream ends a document with "...": drop it, so the output can be piped straight to kubectl apply -f -.
        return writer.ToString().Replace("\n...\n", "\n").TrimEnd() + "\n";
    }

    private static YamlMappingNode PodTemplate(string container, string image, PodResources resources, (string Name, int Port)[] ports)
    {
        var quantities = Map(("cpu", Str(resources.Cpu)), ("memory", Str(resources.Memory)));
        var spec = Map(("name", Str(container)), ("image", Str(image)),
            ("resources", Map(("limits", quantities), ("requests", Map(("cpu", Str(resources.Cpu)), ("memory", Str(resources.Memory)))))));
        if (ports.Length > 0)
            spec.Add("ports", new YamlSequenceNode(ports.Select(p => (YamlNode)Map(("name", Str(p.Name)), ("containerPort", Num(p.Port))))));
        return Map(("spec", Map(("containers", new YamlSequenceNode(spec)))));
    }

    private static YamlMappingNode Map(params (string Key, YamlNode Value)[] entries)
    {
        var map = new YamlMappingNode();
        foreach (var (key, value) in entries) map.Add(key, value);
        return map;
    }

    // Strings are quoted so that values like "2" (a CPU count) or "2.47.1" stay strings for Kubernetes.
    private static YamlScalarNode Str(string value) => new(value) { Style = ScalarStyle.DoubleQuoted };
    private static YamlScalarNode Num(int value) => new(value.ToString(System.Globalization.CultureInfo.InvariantCulture)) { Style = ScalarStyle.Plain };
}
