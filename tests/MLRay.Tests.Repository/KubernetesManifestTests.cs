using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using MLRay.Cli.Commands;
using MLRay.Receiver.Webhooks;
using MLRay.Serve;
using MLRay.ServiceDefaults;
using YamlDotNet.RepresentationModel;

namespace MLRay.Tests.Integration;

/// <summary>
/// deploy/kubernetes/ as a platform team applies it, checked without a cluster: kustomize (kubectl's own, pinned by
/// scripts/setup.sh) renders the base, the worker and the example overlay; every object must deserialise into its
/// Kubernetes API type with unknown fields refused; then what MLRay needs of its pods is asserted on those objects.
/// </summary>
public class KubernetesManifestTests
{
    private static readonly string Root = TestPaths.RepoRoot;
    private static readonly string Deploy = Path.Combine(Root, "deploy", "kubernetes");
    private const string Overlay = "overlays/example";

    /// <summary>The .NET images' non-root user ($APP_UID of mcr.microsoft.com/dotnet/aspnet), which the Dockerfiles run as.</summary>
    private const long AppUid = 1654;

    private sealed record Rendered(IReadOnlyList<IKubernetesObject> Objects, IReadOnlyList<YamlMappingNode> Custom)
    {
        public IEnumerable<T> All<T>() => Objects.OfType<T>();
        public T Single<T>(string name) where T : IMetadata<V1ObjectMeta> => All<T>().Single(o => o.Metadata.Name == name);
        public string Config => All<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("mlray-config")).Data["config.yml"];

        /// <summary>Every pod MLRay runs: each Deployment's and Job's template, with the owner's name.</summary>
        public IEnumerable<(string Owner, V1PodSpec Pod, V1ObjectMeta Meta)> Pods =>
            All<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template.Spec, d.Spec.Template.Metadata))
                .Concat(All<V1Job>().Select(j => (j.Metadata.Name, j.Spec.Template.Spec, j.Spec.Template.Metadata)));
    }

    private static readonly Dictionary<string, Rendered> Cache = [];

    private static Rendered Render(string dir)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(dir, out var cached)) return cached;
            var kubectl = Path.Combine(Root, "tools", "kubectl", "bin", "kubectl");
            Assert.True(File.Exists(kubectl), $"{kubectl} is missing: run scripts/setup.sh");
            var start = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Deploy };
            foreach (var a in new[] { "kustomize", dir }) start.ArgumentList.Add(a);
            using var p = Process.Start(start)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"kubectl kustomize {dir}: {error}");
            return Cache[dir] = Parse(output.Result);
        }
    }

    /// <summary>Each document into its API type (strict: an unknown or misplaced field throws); custom resources as YAML.</summary>
    private static Rendered Parse(string yaml)
    {
        var objects = new List<IKubernetesObject>();
        var custom = new List<YamlMappingNode>();
        foreach (var document in Regex.Split(yaml, @"^---\s*$", RegexOptions.Multiline).Where(d => d.Trim().Length > 0))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(document));
            var root = (YamlMappingNode)stream.Documents[0].RootNode;
            if (Scalar(root, "apiVersion")!.EndsWith(".rabbitmq.com/v1beta1") || Scalar(root, "apiVersion") == "rabbitmq.com/v1beta1")
                custom.Add(root);
            else
                objects.Add((IKubernetesObject)KubernetesYaml.LoadAllFromString(document, strict: true).Single());
        }
        return new Rendered(objects, custom);
    }

    private static string? Scalar(YamlNode node, params string[] path)
    {
        foreach (var key in path)
            node = node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : new YamlScalarNode(null);
        return (node as YamlScalarNode)?.Value;
    }

    private static MLRayConfig LoadConfig(string text, IEnumerable<string> variables) =>
        ConfigLoader.Load(text, new DictionaryEnvironment(variables.ToDictionary(v => v, v => $"value-of-{v}")), "config.yml");

    private static readonly Lazy<MLRayConfig> LoadedOverlayConfig = new(() => LoadConfig(Render(Overlay).Config, ["RABBITMQ_USERNAME", "RABBITMQ_PASSWORD"]));
    private static MLRayConfig OverlayConfig => LoadedOverlayConfig.Value;

    /// <summary>The image name `docker build -f docker/NAME.Dockerfile -t IMAGE .` in each Dockerfile's header gives it.</summary>
    private static Dictionary<string, string> DockerfileImages() => Directory.GetFiles(Path.Combine(Root, "docker"), "*.Dockerfile")
        .ToDictionary(f => Regex.Match(File.ReadAllText(f), @"docker build -f docker/\S+ -t (\S+) \.").Groups[1].Value, f => File.ReadAllText(f));

    private static string Repository(string image) => image.Split('@')[0].Split('/')[^1].Split(':')[0];

    private static V1Container Container(V1PodSpec pod) => Assert.Single(pod.Containers);

    private static bool Selects(V1LabelSelector selector, IDictionary<string, string> labels) =>
        selector.MatchLabels.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value) && selector.MatchExpressions is null or { Count: 0 };

    [Theory]
    [InlineData("base", new[] { "Deployment/mlray-receiver", "Service/mlray-receiver", "PodDisruptionBudget/mlray-receiver", "Job/mlray-webhook-register" })]
    [InlineData("worker", new[] { "Deployment/mlray-worker", "PodDisruptionBudget/mlray-worker" })]
    [InlineData(Overlay, new[] { "Namespace/mlray", "Deployment/mlray-receiver", "Service/mlray-receiver", "PodDisruptionBudget/mlray-receiver",
        "Job/mlray-webhook-register", "Deployment/mlray-worker-ray-cluster-py39", "PodDisruptionBudget/mlray-worker-ray-cluster-py39",
        "Deployment/mlray-worker-ray-cluster-py312", "PodDisruptionBudget/mlray-worker-ray-cluster-py312", "ConfigMap/mlray-config" })]
    public void Kustomize_renders_it_and_every_object_is_a_valid_kubernetes_api_object(string dir, string[] expected)
    {
        var rendered = Render(dir);
        var names = rendered.Objects.Select(o => $"{o.Kind}/{((IMetadata<V1ObjectMeta>)o).Metadata.Name}")
            .Select(n => n.StartsWith("ConfigMap/mlray-config-") ? "ConfigMap/mlray-config" : n).ToList(); // the generator's hash suffix
        Assert.Equal(expected.Order(), names.Order());
        Assert.All(rendered.Objects, o => Assert.False(string.IsNullOrEmpty(o.ApiVersion)));
        if (dir == Overlay)
        {
            Assert.All(rendered.Objects.Where(o => o.Kind != "Namespace"), o => Assert.Equal("mlray", ((IMetadata<V1ObjectMeta>)o).Metadata.NamespaceProperty));
            Assert.Single(rendered.Custom); // the RabbitmqCluster, checked on its own below
        }
    }

    [Fact]
    public void The_checker_refuses_unknown_fields_and_values_of_the_wrong_type()
    {
        var valid = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i, ports: [{containerPort: 80}]}]\n";
        Assert.IsType<V1Deployment>(Assert.Single(Parse(valid).Objects));
        Assert.ThrowsAny<Exception>(() => Parse(valid.Replace("selector:", "selectr:")));
        Assert.ThrowsAny<Exception>(() => Parse(valid.Replace("containerPort: 80", "containerPort: eighty")));
        Assert.ThrowsAny<Exception>(() => Parse(valid.Replace("image: i", "image: i, readOnlyRootFilesystem: true"))); // belongs in securityContext
    }

    [Fact]
    public void The_receiver_runs_two_replicas_behind_its_service_on_the_port_its_image_listens_on_with_a_disruption_budget()
    {
        var rendered = Render(Overlay);
        var receiver = rendered.Single<V1Deployment>("mlray-receiver");
        Assert.Equal(2, receiver.Spec.Replicas);
        Assert.Equal(0, int.Parse(receiver.Spec.Strategy.RollingUpdate.MaxUnavailable.Value)); // a ready pod always takes webhooks
        var pdb = rendered.Single<V1PodDisruptionBudget>("mlray-receiver");
        Assert.Equal("1", pdb.Spec.MinAvailable.Value);
        Assert.True(Selects(pdb.Spec.Selector, receiver.Spec.Template.Metadata.Labels));

        var dockerfile = DockerfileImages()["mlray-receiver"];
        var port = int.Parse(Regex.Match(dockerfile, @"""--urls"", ""http://0\.0\.0\.0:(\d+)""").Groups[1].Value);
        var container = Container(receiver.Spec.Template.Spec);
        var http = Assert.Single(container.Ports);
        Assert.Equal(port, http.ContainerPort);
        var service = rendered.Single<V1Service>("mlray-receiver");
        Assert.True(Selects(new V1LabelSelector { MatchLabels = service.Spec.Selector }, receiver.Spec.Template.Metadata.Labels));
        var servicePort = Assert.Single(service.Spec.Ports);
        Assert.Equal(http.Name, servicePort.TargetPort.Value);
        Assert.Equal(port, servicePort.Port);
    }

    [Fact]
    public void Every_mlray_container_is_probed_scraped_limited_and_runs_non_root_on_a_read_only_root()
    {
        var rendered = Render(Overlay);
        foreach (var (owner, pod, meta) in rendered.Pods)
        {
            var container = Container(pod);
            Assert.True(pod.SecurityContext.RunAsNonRoot, owner);
            Assert.Equal(AppUid, pod.SecurityContext.RunAsUser);
            Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
            Assert.False(pod.AutomountServiceAccountToken, owner);
            Assert.True(container.SecurityContext.ReadOnlyRootFilesystem, owner);
            Assert.False(container.SecurityContext.AllowPrivilegeEscalation, owner);
            Assert.Equal(new[] { "ALL" }, container.SecurityContext.Capabilities.Drop);
            foreach (var resource in new[] { "cpu", "memory" })
            {
                Assert.True(container.Resources.Requests.ContainsKey(resource), $"{owner} requests no {resource}");
                Assert.True(container.Resources.Limits[resource].ToDecimal() >= container.Resources.Requests[resource].ToDecimal(), $"{owner}: {resource} limit below request");
            }

            // Writable where .NET and MLRay write: /tmp and mlray.working_dir, each an emptyDir.
            var emptyDirs = pod.Volumes.Where(v => v.EmptyDir is not null).Select(v => v.Name).ToHashSet();
            var writable = container.VolumeMounts.Where(m => emptyDirs.Contains(m.Name) && m.ReadOnlyProperty != true).Select(m => m.MountPath).ToList();
            Assert.Contains("/tmp", writable);
            Assert.Contains(writable, path => OverlayConfig.WorkingDir == path || OverlayConfig.WorkingDir.StartsWith(path + "/"));

            if (owner.StartsWith("mlray-webhook-register")) continue;
            var port = Assert.Single(container.Ports);
            Assert.Equal("/healthz", container.LivenessProbe.HttpGet.Path);
            Assert.Equal("/healthz", container.StartupProbe.HttpGet.Path);
            Assert.Equal("/readyz", container.ReadinessProbe.HttpGet.Path);
            Assert.All(new[] { container.LivenessProbe, container.StartupProbe, container.ReadinessProbe }, p => Assert.Equal(port.Name, p.HttpGet.Port.Value));
            Assert.Equal("true", meta.Annotations["prometheus.io/scrape"]);
            Assert.Equal("/metrics", meta.Annotations["prometheus.io/path"]);
            Assert.Equal(port.ContainerPort.ToString(), meta.Annotations["prometheus.io/port"]);
        }
        Assert.Equal(4, rendered.Pods.Count());
    }

    [Fact]
    public void Each_ray_cluster_has_its_own_worker_deployment_an_active_and_a_standby_listening_for_probes()
    {
        var rendered = Render(Overlay);
        var workers = rendered.All<V1Deployment>().Where(d => d.Metadata.Name.StartsWith("mlray-worker")).ToList();
        Assert.Equal(OverlayConfig.Clusters.Count, workers.Count);
        foreach (var cluster in OverlayConfig.Clusters)
        {
            var worker = workers.Single(w => Container(w.Spec.Template.Spec).Env.Any(e => e.Name == "MLRAY_CLUSTER" && e.Value == cluster.Name));
            Assert.Equal(2, worker.Spec.Replicas);
            Assert.Equal(0, int.Parse(worker.Spec.Strategy.RollingUpdate.MaxUnavailable.Value));
            var container = Container(worker.Spec.Template.Spec);
            var args = container.Args.ToList();
            Assert.Equal("$(MLRAY_CLUSTER)", args[args.IndexOf("--cluster") + 1]);
            var urls = new Uri(args[args.IndexOf("--urls") + 1]);
            Assert.Equal("0.0.0.0", urls.Host); // the worker's default is loopback, which the kubelet's probes cannot reach
            Assert.Equal(urls.Port, Assert.Single(container.Ports).ContainerPort);
            Assert.DoesNotContain("--no-router", args);

            var pdb = rendered.All<V1PodDisruptionBudget>().Single(p => Selects(p.Spec.Selector, worker.Spec.Template.Metadata.Labels));
            Assert.Equal("1", pdb.Spec.MinAvailable.Value);
            // No other Deployment's selector takes this worker's pods (nor this one's theirs).
            foreach (var other in rendered.All<V1Deployment>().Where(d => d != worker))
            {
                Assert.False(Selects(other.Spec.Selector, worker.Spec.Template.Metadata.Labels), $"{other.Metadata.Name} selects {worker.Metadata.Name}'s pods");
                Assert.False(Selects(pdb.Spec.Selector, other.Spec.Template.Metadata.Labels), $"{pdb.Metadata.Name} selects {other.Metadata.Name}'s pods");
            }
        }
    }

    [Fact]
    public void A_stopping_pod_has_time_for_its_pre_stop_and_the_hosts_whole_shutdown_the_handover_included()
    {
        foreach (var deployment in Render(Overlay).All<V1Deployment>())
        {
            var pod = deployment.Spec.Template.Spec;
            var preStop = Container(pod).Lifecycle.PreStop.Exec.Command;
            Assert.Equal("sleep", preStop[0]);
            var budget = int.Parse(preStop[1]) + ServiceDefaultsExtensions.ShutdownTimeout.TotalSeconds;
            Assert.True(pod.TerminationGracePeriodSeconds >= budget + 5,
                $"{deployment.Metadata.Name}: terminationGracePeriodSeconds {pod.TerminationGracePeriodSeconds} leaves no margin over preStop + shutdown ({budget} s)");
        }
    }

    [Fact]
    public void No_secret_is_written_in_the_manifests_or_the_config_only_referenced_by_name()
    {
        var rendered = Render(Overlay);
        Assert.Empty(rendered.All<V1Secret>());
        foreach (var file in Directory.GetFiles(Deploy, "kustomization.yaml", SearchOption.AllDirectories))
            Assert.DoesNotContain("secretGenerator", File.ReadAllText(file));

        var referenced = new HashSet<string>();
        foreach (var (owner, pod, _) in rendered.Pods)
        {
            var container = Container(pod);
            foreach (var env in container.Env ?? [])
            {
                if (env.ValueFrom?.SecretKeyRef is { } key) referenced.Add(key.Name);
                else if (env.ValueFrom is null)
                    Assert.DoesNotMatch("(?i)password|token|secret|key|user", env.Name); // a literal value only for what is no secret
            }
            foreach (var from in container.EnvFrom ?? [])
            {
                Assert.Null(from.ConfigMapRef);
                referenced.Add(from.SecretRef.Name);
            }
            foreach (var volume in pod.Volumes.Where(v => v.Secret is not null)) referenced.Add(volume.Secret.SecretName);
        }
        Assert.Equal(new HashSet<string> { "mlray-receiver", "mlray-mlflow", "mlray-s3", "mlray-ray-tokens", "mlray-rabbitmq-default-user" }, referenced);

        // The config holds variables and file paths, never a value: every credential in it is a ${VAR}.
        var config = rendered.Config;
        Assert.DoesNotMatch(@"amqps?://[^$\s]+@", config);
        Assert.DoesNotMatch(@"(?m)^\s*[a-z_]*(secret|token|password)\s*:", config);
        Assert.Matches(@"(?m)^\s*webhook_secret_file: /", config);

        var readme = Section("## On Kubernetes");
        foreach (var secret in referenced) Assert.Contains($"`{secret}`", readme);
    }

    [Fact]
    public void The_config_map_loads_with_mlrays_config_loader_in_every_pod_with_the_variables_that_pod_has()
    {
        var rendered = Render(Overlay);
        var configMap = rendered.All<V1ConfigMap>().Single();
        foreach (var (owner, pod, _) in rendered.Pods)
        {
            var container = Container(pod);
            var configVolume = pod.Volumes.Single(v => v.ConfigMap?.Name == configMap.Metadata.Name);
            var mount = container.VolumeMounts.Single(m => m.Name == configVolume.Name);
            Assert.Contains($"{mount.MountPath}/config.yml", container.Args);

            // Only the variables the pod defines (those from optional envFrom Secrets may be absent, so none is assumed).
            var config = LoadConfig(configMap.Data["config.yml"], (container.Env ?? []).Select(e => e.Name));
            Assert.Equal(OverlayConfig.Clusters.Select(c => c.Name), config.Clusters.Select(c => c.Name));

            // The receiver's secret files are in the Secret volume this pod mounts (the workers never read them).
            if (owner.StartsWith("mlray-worker")) continue;
            var secretMount = container.VolumeMounts.Single(m => pod.Volumes.Single(v => v.Name == m.Name).Secret?.SecretName == "mlray-receiver");
            Assert.Matches($"SecretSource\\(file {Regex.Escape(secretMount.MountPath)}/webhook-secret\\)", config.Pipeline.WebhookSecretSource!.ToString());
            Assert.Matches($"SecretSource\\(file {Regex.Escape(secretMount.MountPath)}/ops-token\\)", config.Pipeline.OpsTokenSource!.ToString());
        }
    }

    [Fact]
    public void The_broker_is_a_three_node_rabbitmq_cluster_whose_nodes_and_credentials_the_config_names()
    {
        var rendered = Render(Overlay);
        var rabbit = Assert.Single(rendered.Custom);
        Assert.Equal("rabbitmq.com/v1beta1", Scalar(rabbit, "apiVersion"));
        Assert.Equal("RabbitmqCluster", Scalar(rabbit, "kind"));
        Assert.Equal("3", Scalar(rabbit, "spec", "replicas"));
        var name = Scalar(rabbit, "metadata", "name")!;
        Assert.Equal("mlray", Scalar(rabbit, "metadata", "namespace"));
        // Its resources are a core type's fields.
        var resources = new YamlStream(new YamlDocument(((YamlMappingNode)rabbit["spec"])["resources"]));
        var text = new StringWriter();
        resources.Save(text, assignAnchors: false);
        var requirements = KubernetesYaml.Deserialize<V1ResourceRequirements>(text.ToString().Replace("...", ""), strict: true);
        Assert.NotNull(requirements.Limits["memory"]);

        // The operator's pods are <name>-server-N behind the headless Service <name>-nodes; its Secret <name>-default-user.
        Assert.Equal(Enumerable.Range(0, 3).Select(i => $"{name}-server-{i}.{name}-nodes"), OverlayConfig.Pipeline.RabbitMqUris.Select(u => u.Host));
        Assert.All(OverlayConfig.Pipeline.RabbitMqUris, u => Assert.Equal("value-of-RABBITMQ_USERNAME:value-of-RABBITMQ_PASSWORD", u.UserInfo));
        foreach (var (owner, pod, _) in rendered.Pods)
            foreach (var variable in new[] { "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD" })
                Assert.Equal($"{name}-default-user", Container(pod).Env.Single(e => e.Name == variable).ValueFrom.SecretKeyRef.Name);
    }

    [Fact]
    public void The_webhook_job_registers_the_receivers_service_once_with_the_clis_own_arguments()
    {
        var rendered = Render(Overlay);
        var job = rendered.Single<V1Job>("mlray-webhook-register");
        Assert.Equal("Never", job.Spec.Template.Spec.RestartPolicy);
        Assert.NotNull(job.Spec.TtlSecondsAfterFinished); // a finished Job goes, so the next apply may change it and runs it again
        var container = Container(job.Spec.Template.Spec);
        Assert.Equal("metadata.namespace", container.Env.Single(e => e.Name == "POD_NAMESPACE").ValueFrom.FieldRef.FieldPath);

        var args = container.Args.ToList();
        Assert.Equal(new[] { "webhook", "register" }, args.Take(2));
        var parse = WebhookCommands.Register().Parse(args.Skip(2).ToList());
        Assert.Empty(parse.Errors);
        var service = rendered.Single<V1Service>("mlray-receiver");
        var url = new Uri(args[args.IndexOf("--url") + 1].Replace("$(POD_NAMESPACE)", "mlray"));
        Assert.Equal($"{service.Metadata.Name}.mlray.svc", url.Host);
        Assert.Equal(service.Spec.Ports.Single().Port, url.Port);
        Assert.Equal(WebhookEndpointExtensions.Route, url.AbsolutePath);
    }

    [Fact]
    public void The_images_are_the_ones_the_dockerfiles_build_and_run_the_program_the_pod_expects()
    {
        var built = DockerfileImages();
        var expected = new Dictionary<string, string>
        {
            ["mlray-receiver"] = "/app/mlray-receiver.dll", ["mlray-worker"] = "/app/mlray-worker.dll", ["mlray"] = "/app/mlray.dll",
        };
        var named = Render("base").Pods.Concat(Render("worker").Pods).Select(p => Container(p.Pod).Image).ToHashSet();
        Assert.Equal(expected.Keys.Order(), named.Order());
        foreach (var (image, program) in expected)
        {
            Assert.Contains($"\"{program}\"", built[image]);
            Assert.Contains("USER $APP_UID", built[image]);
        }
        // The overlay only says where they are pushed: the repository name stays the image's.
        var overlayImages = Render(Overlay).Pods.Select(p => Container(p.Pod).Image).ToList();
        Assert.Equal(named.Order(), overlayImages.Select(Repository).Distinct().Order());
        Assert.All(overlayImages, i => Assert.Matches(@":[\w.-]+$", i)); // pinned to a tag, never a moving default

        // The Ray nodes' images: the Dockerfile of the cluster's Python.
        foreach (var cluster in OverlayConfig.Clusters)
        {
            var dockerfile = built[Repository(cluster.KubeRay.Image!)];
            var python = Regex.Match(dockerfile, @"^FROM python:(\d+\.\d+\.\d+)-", RegexOptions.Multiline).Groups[1].Value;
            Assert.True(cluster.PythonVersion.Accepts(PythonVersionSpec.Parse(python)), $"{cluster.Name}'s image runs Python {python}");
            Assert.EndsWith($":{cluster.KubeRay.RayVersion}", cluster.KubeRay.Image);
        }
    }

    [Fact]
    public void Each_cluster_addresses_the_services_kuberay_gives_the_rayservice_mlray_renders_for_it()
    {
        foreach (var cluster in OverlayConfig.Clusters)
        {
            var text = KubeRayRenderer.Render(cluster, new JsonObject { ["applications"] = new JsonArray() });
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            var rayService = (YamlMappingNode)stream.Documents[0].RootNode;
            var name = Scalar(rayService, "metadata", "name");
            var head = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)rayService["spec"])["rayClusterConfig"])["headGroupSpec"];
            var template = new StringWriter();
            new YamlStream(new YamlDocument(head["template"])).Save(template, assignAnchors: false);
            var headPod = KubernetesYaml.Deserialize<V1PodTemplateSpec>(template.ToString().Replace("\n...", ""), strict: true);
            var ports = Container(headPod.Spec).Ports.ToDictionary(p => p.Name, p => p.ContainerPort);

            Assert.Equal(($"{name}-head-svc.mlray.svc", ports["dashboard"]), (cluster.DashboardAddress.Host, cluster.DashboardAddress.Port));
            Assert.Equal(($"{name}-serve-svc.mlray.svc", ports["serve"]), (cluster.EffectiveServeAddress.Host, cluster.EffectiveServeAddress.Port));
        }
    }

    private static string Section(string heading)
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var start = readme.IndexOf($"\n{heading}\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"README has no '{heading}'");
        var end = readme.IndexOf("\n## ", start + heading.Length + 2, StringComparison.Ordinal);
        return readme[start..(end < 0 ? readme.Length : end)];
    }

    [Fact]
    public void The_readme_tells_how_to_apply_scale_upgrade_and_watch_it()
    {
        var section = Section("## On Kubernetes");
        Assert.Contains("kubectl apply -k deploy/kubernetes/overlays/example", section);
        Assert.Contains("mlray render kuberay", section);
        Assert.Matches(@"kubectl (-n \S+ )?scale deployment/mlray-receiver", section);
        Assert.Matches(@"kubectl (-n \S+ )?rollout status deployment/mlray-worker-", section);
        Assert.Contains("terminationGracePeriodSeconds", section);
        Assert.Contains($"{ServiceDefaultsExtensions.ShutdownTimeout.TotalSeconds:0} s", section);
        foreach (var metric in new[] { "mlray_dead_letters_queued", "mlray_reconciles" }) Assert.Contains(metric, section);
    }
}
