using MLRay.Emulators.Ray;
using YamlDotNet.RepresentationModel;
using static MLRay.Testing.Programs;
using static MLRay.Tests.Integration.DeployTests;

namespace MLRay.Tests.Integration;

/// <summary><c>mlray undeploy</c> and <c>mlray render kuberay</c>, as a process, against the emulators over HTTP.</summary>
public class UndeployAndRenderTests
{
    private const string ForeignApp = """{"name": "hand-made", "route_prefix": "/hand", "import_path": "mlray_serve.app:build", "args": {"model_uri": "models:/other/1"}, "runtime_env": {"env_vars": {"OWNER": "team-x"}}}""";

    /// <summary>Puts an app MLRay did not create on the cluster, as another tool would, and returns its config as Ray reports it.</summary>
    private static async Task<JsonNode> PutForeignAppAsync(RayDashboardEmulator ray)
    {
        using var http = new HttpClient();
        var current = JsonNode.Parse((await http.GetStringAsync(new Uri(ray.BaseUri, "/api/serve/applications/"))))!;
        var apps = new JsonArray(JsonNode.Parse(ForeignApp));
        foreach (var (_, app) in current["applications"]!.AsObject())
            if (app!["deployed_app_config"] is { } config) apps.Add(config.DeepClone());
        var body = new JsonObject { ["applications"] = apps };
        Assert.True((await http.PutAsync(new Uri(ray.BaseUri, "/api/serve/applications/"), new StringContent(body.ToJsonString()))).IsSuccessStatusCode);
        return Apps(ray).Applications["hand-made"].DeployedAppConfig!.DeepClone();
    }

    private static JsonArray PutApps(RayDashboardEmulator ray, int index) =>
        JsonNode.Parse(ray.PutBodies[index])!["applications"]!.AsArray();

    [Fact]
    public async Task Undeploy_removes_every_mlray_app_with_one_put_and_foreign_apps_survive()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();
        await world.DeployAsync("ray-cluster-py39");
        var foreign = await PutForeignAppAsync(world.Ray39);
        world.Ray39.DeployImperativeApp("notebook", "/notebook");
        var putsBefore = world.Ray39.PutCount;

        var (code, stdout, stderr) = await RunMlray("undeploy", config, "ray-cluster-py39", "--output", "json");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(putsBefore + 1, world.Ray39.PutCount);
        var sent = Assert.Single(PutApps(world.Ray39, world.Ray39.PutBodies.Count - 1));
        Assert.True(JsonNode.DeepEquals(foreign, sent), sent!.ToJsonString());
        Assert.DoesNotContain(world.Ray39.Requests, r => r.Method == "DELETE");
        Assert.Equal(["hand-made", "notebook"], Apps(world.Ray39).Applications.Keys.Order().ToArray());
        var report = JsonNode.Parse(stdout)!;
        Assert.True((bool)report["succeeded"]!);
        Assert.Equal(["iris_classifier-py39-catboost11", "iris_classifier-py39-catboost12"],
            report["apps"]!.AsArray().Where(a => (string)a!["outcome"]! == "removed").Select(a => (string)a!["app"]!).Order().ToArray());
        Assert.Contains(report["changes"]!.AsArray(), c => (string)c!["app"]! == "hand-made" && (string)c["change"]! == "foreign");
    }

    [Fact]
    public async Task Undeploy_with_model_removes_only_that_models_app_and_keeps_the_other_mlray_app_as_it_runs()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();
        await world.DeployAsync("ray-cluster-py39");
        var foreign = await PutForeignAppAsync(world.Ray39);
        var neighbour = Apps(world.Ray39).Applications["iris_classifier-py39-catboost11"].DeployedAppConfig!.DeepClone();

        var (code, stdout, stderr) = await RunMlray("undeploy", config, "ray-cluster-py39", "--model", "iris_classifier-py39-catboost12.staging");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("iris_classifier-py39-catboost12", stdout);
        var sent = PutApps(world.Ray39, world.Ray39.PutBodies.Count - 1).ToDictionary(a => (string)a!["name"]!);
        Assert.Equal(["hand-made", "iris_classifier-py39-catboost11"], sent.Keys.Order().ToArray());
        Assert.True(JsonNode.DeepEquals(foreign, sent["hand-made"]));
        Assert.True(JsonNode.DeepEquals(neighbour, sent["iris_classifier-py39-catboost11"]));
        Assert.False(Apps(world.Ray39).Applications.ContainsKey("iris_classifier-py39-catboost12"));
    }

    [Fact]
    public async Task Undeploy_by_app_name_works_too_and_nothing_left_means_no_put()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();
        await world.DeployAsync("ray-cluster-py312");

        var (code, _, stderr) = await RunMlray("undeploy", config, "ray-cluster-py312", "--model", "iris_classifier-py312-catboost12");
        Assert.True(code == 0, stderr);
        Assert.Empty(PutApps(world.Ray312, world.Ray312.PutBodies.Count - 1));
        var puts = world.Ray312.PutCount;

        var (again, stdout, _) = await RunMlray("undeploy", config, "ray-cluster-py312");
        Assert.Equal(0, again);
        Assert.Contains("no MLRay app to remove", stdout);
        Assert.Equal(puts, world.Ray312.PutCount);
    }

    [Fact]
    public async Task Undeploy_exits_1_when_ray_still_lists_the_app_at_the_deadline()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();
        await world.DeployAsync("ray-cluster-py312");
        world.Ray312.Options.BuildTime = TimeSpan.FromMinutes(5); // DELETING lasts as long as a build

        var (code, stdout, stderr) = await RunMlray("undeploy", config, "ray-cluster-py312", "--timeout", "1s", "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var app = JsonNode.Parse(stdout)!["apps"]!.AsArray().Single()!;
        Assert.Equal("timed_out", (string)app["outcome"]!);
        Assert.Equal("DELETING", (string)app["ray_status"]!);
    }

    [Fact]
    public async Task Undeploy_exit_codes_match_deploy_for_config_and_unreachable_cluster()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();
        var (unknown, _, err) = await RunMlray("undeploy", config, "no-such-cluster");
        Assert.Equal(2, unknown);
        Assert.Contains("no cluster named 'no-such-cluster'", err);

        await world.Ray39.DisposeAsync();
        var (unreachable, _, _) = await RunMlray("undeploy", config, "ray-cluster-py39");
        Assert.Equal(3, unreachable);
    }

    private static string WithKubeRay(DeployWorld world) => world.ConfigYaml().Replace(
        $"dashboard_address: {world.Ray312.BaseUri}",
        $"""
        dashboard_address: {world.Ray312.BaseUri}
          kuberay:
            image: registry.example/mlray/ray-serve-py312:2.47.1
            head: {"{cpu: '4', memory: 8Gi}"}
            workers: {"{replicas: 2, max_replicas: 5, cpu: 1500m, memory: 6Gi}"}
        """);

    private static YamlMappingNode ParseYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static string Scalar(YamlNode node, params string[] path)
    {
        foreach (var key in path)
            node = key.StartsWith('#') ? ((YamlSequenceNode)node)[int.Parse(key[1..])] : ((YamlMappingNode)node)[key];
        return ((YamlScalarNode)node).Value!;
    }

    [Fact]
    public async Task Render_kuberay_serve_config_equals_the_body_deploy_puts_for_the_same_registry()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        await PutForeignAppAsync(world.Ray312);
        Directory.CreateDirectory(world.WorkingDir);
        var config = Path.Combine(world.WorkingDir, "config.yml");
        File.WriteAllText(config, WithKubeRay(world));

        var (code, stdout, stderr) = await RunMlray("render", "kuberay", config, "ray-cluster-py312");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var puts = world.Ray312.PutCount;
        var (deployCode, _, deployErr) = await RunMlray("deploy", config, "ray-cluster-py312");
        Assert.True(deployCode == 0, deployErr);
        Assert.Equal(puts + 1, world.Ray312.PutCount);

        var service = ParseYaml(stdout);
        Assert.Equal("ray.io/v1", Scalar(service, "apiVersion"));
        Assert.Equal("RayService", Scalar(service, "kind"));
        Assert.Equal("ray-cluster-py312", Scalar(service, "metadata", "name"));
        var serveConfig = JsonNode.Parse(Scalar(service, "spec", "serveConfigV2"))!;
        var putBody = JsonNode.Parse(world.Ray312.PutBodies[^1])!;
        Assert.True(JsonNode.DeepEquals(putBody, serveConfig), $"rendered:\n{serveConfig}\nPUT:\n{putBody}");
        Assert.Equal(["hand-made", "iris_classifier-py312-catboost12"],
            serveConfig["applications"]!.AsArray().Select(a => (string)a!["name"]!).Order().ToArray());

        var cluster = service["spec"]["rayClusterConfig"];
        Assert.Equal(KubeRaySettings.DefaultRayVersion, Scalar(cluster, "rayVersion"));
        var head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0];
        Assert.Equal("registry.example/mlray/ray-serve-py312:2.47.1", Scalar(head, "image"));
        Assert.Equal("4", Scalar(head, "resources", "limits", "cpu"));
        Assert.Equal("8Gi", Scalar(head, "resources", "requests", "memory"));
        Assert.Contains("8265", ((YamlSequenceNode)head["ports"]).Select(p => Scalar(p, "containerPort")));
        var workers = cluster["workerGroupSpecs"][0];
        Assert.Equal(["2", "1", "5"], new[] { Scalar(workers, "replicas"), Scalar(workers, "minReplicas"), Scalar(workers, "maxReplicas") });
        Assert.Equal("1500m", Scalar(workers, "template", "spec", "containers", "#0", "resources", "limits", "cpu"));
        Assert.Equal("6Gi", Scalar(workers, "template", "spec", "containers", "#0", "resources", "limits", "memory"));
    }

    [Fact]
    public async Task Render_kuberay_with_an_invalid_model_exits_1_and_keeps_stdout_pure_yaml()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Mlflow.SetRegisteredModelTag("iris_classifier-py312-catboost12.staging", "ray.ray_actor_options.memory", "lots");
        Directory.CreateDirectory(world.WorkingDir);
        var config = Path.Combine(world.WorkingDir, "config.yml");
        File.WriteAllText(config, WithKubeRay(world));

        var (code, stdout, stderr) = await RunMlray("render", "kuberay", config, "ray-cluster-py312");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("invalid", stderr); // the models table (its detail column wraps at the console width)
        var serveConfig = JsonNode.Parse(Scalar(ParseYaml(stdout), "spec", "serveConfigV2"))!;
        Assert.Empty(serveConfig["applications"]!.AsArray()); // a broken model that never ran has no app to keep
    }

    [Fact]
    public async Task Render_kuberay_without_an_image_is_a_config_error_and_contacts_nothing()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();

        var (code, _, stderr) = await RunMlray("render", "kuberay", config, "ray-cluster-py39");

        Assert.Equal(2, code);
        Assert.Contains("ray_clusters[0].kuberay.image", stderr);
        Assert.Empty(world.Ray39.Requests);
        Assert.Empty(world.Mlflow.Requests);
    }
}
