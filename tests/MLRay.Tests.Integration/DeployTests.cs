using System.Diagnostics;
using MLRay.Emulators.Seed;
using MLRay.Deploy;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Tests.Integration;

/// <summary>The deploy core against the MLflow and Ray emulators over real HTTP.</summary>
public class DeployTests
{
    internal static ServeInstance Apps(MLRay.Emulators.Ray.RayDashboardEmulator ray)
    {
        using var client = new RayDashboardClient(ray.BaseUri, TestHttp.Factory);
        return client.GetApplicationsAsync().GetAwaiter().GetResult();
    }

    [Fact]
    public async Task The_seeds_three_models_reach_only_the_cluster_of_their_python()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();

        var py312 = await world.DeployAsync("ray-cluster-py312");
        var py39 = await world.DeployAsync("ray-cluster-py39");

        Assert.Equal(["iris_classifier-py312-catboost12"], Apps(world.Ray312).Applications.Keys);
        Assert.Equal(["iris_classifier-py39-catboost11", "iris_classifier-py39-catboost12"], Apps(world.Ray39).Applications.Keys.Order());
        Assert.True(py312.Succeeded);
        Assert.Equal(AppOutcome.Running, py312.Apps.Single().Outcome);
        Assert.Equal(AppOutcome.Running, py39.Apps.Single(a => a.App == "iris_classifier-py39-catboost12").Outcome);

        // The ARM cluster cannot install catboost 1.1: Ray's own pip message is reported; the other app is unaffected.
        var arm = py39.Apps.Single(a => a.App == "iris_classifier-py39-catboost11");
        Assert.Equal(AppOutcome.Failed, arm.Outcome);
        Assert.Equal("DEPLOY_FAILED", arm.RayStatus);
        Assert.Contains("No matching distribution found for catboost==1.1", arm.Message);
        Assert.False(py39.Succeeded);

        // What was sent: memory in bytes, seed pins as the pip list, the builder with the model URI.
        var sent = JsonNode.Parse(world.Ray312.PutBodies.Single())!["applications"]![0]!;
        Assert.Equal(1073741824L, (long)sent["deployments"]![0]!["ray_actor_options"]!["memory"]!);
        Assert.Equal(SeedModels.All[0].Requirements.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()),
            sent["runtime_env"]!["pip"]!.AsArray().Select(p => (string)p!));
        Assert.Equal("models:/iris_classifier-py312-catboost12.staging/1", (string)sent["args"]!["model_uri"]!);
        Assert.True(File.Exists(Path.Combine(world.WorkingDir, "ray-cluster-py312.serve-config.json")));
    }

    [Fact]
    public async Task A_second_run_makes_no_put_and_a_new_version_makes_one()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        await world.DeployAsync("ray-cluster-py312");
        Assert.Equal(1, world.Ray312.PutCount);

        var again = await world.DeployAsync("ray-cluster-py312");
        Assert.False(again.Applied);
        Assert.True(again.Succeeded);
        Assert.Equal(1, world.Ray312.PutCount);

        SeedModels.Register(world.Mlflow, SeedModels.All[0]);
        var upgraded = await world.DeployAsync("ray-cluster-py312");
        Assert.True(upgraded.Applied);
        Assert.Equal(2, world.Ray312.PutCount);
        Assert.Equal(AppChangeKind.Updated, upgraded.Plan.Changes.Single().Kind);
        Assert.Equal("models:/iris_classifier-py312-catboost12.staging/2",
            (string)Apps(world.Ray312).Applications["iris_classifier-py312-catboost12"].DeployedAppConfig!["args"]!["model_uri"]!);
    }

    [Fact]
    public async Task Apps_mlray_does_not_own_survive_every_put()
    {
        await using var world = await DeployWorld.StartAsync();
        const string foreign = """{"applications": [{"name": "hand-made", "route_prefix": "/hand", "import_path": "mlray_serve.app:build", "args": {"model_uri": "models:/other/1"}, "runtime_env": {"env_vars": {"OWNER": "team-x"}}}]}""";
        using (var http = new HttpClient())
            Assert.True((await http.PutAsync(new Uri(world.Ray312.BaseUri, "/api/serve/applications/"), new StringContent(foreign))).IsSuccessStatusCode);
        var before = Apps(world.Ray312).Applications["hand-made"].DeployedAppConfig!.ToJsonString();

        world.RegisterSeed();
        await world.DeployAsync("ray-cluster-py312");
        world.Mlflow.DeleteRegisteredModel("iris_classifier-py312-catboost12.staging");
        var removal = await world.DeployAsync("ray-cluster-py312");

        Assert.Contains(removal.Plan.Changes, c => c is { App: "iris_classifier-py312-catboost12", Kind: AppChangeKind.Removed });
        Assert.Equal(3, world.Ray312.PutCount);
        foreach (var body in world.Ray312.PutBodies)
            Assert.Contains(JsonNode.Parse(body)!["applications"]!.AsArray(), a => (string)a!["name"]! == "hand-made");
        await WaitUntil(() => !Apps(world.Ray312).Applications.ContainsKey("iris_classifier-py312-catboost12"));
        Assert.Equal(before, Apps(world.Ray312).Applications["hand-made"].DeployedAppConfig!.ToJsonString());
    }

    [Fact]
    public async Task Each_invalid_tag_is_named_and_the_other_models_still_deploy()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Mlflow.SetRegisteredModelTag("iris_classifier-py39-catboost12.staging", "ray.ray_actor_options.memory", "lots");
        world.Mlflow.SetRegisteredModelTag("iris_classifier-py39-catboost12.staging", "ray.replicas", "2");

        var report = await world.DeployAsync("ray-cluster-py39");

        var invalid = report.Desired.Models.Single(m => m.RegisteredModel == "iris_classifier-py39-catboost12.staging");
        Assert.Equal(ModelOutcomeKind.Invalid, invalid.Kind);
        Assert.Contains(invalid.Problems, p => p.Contains("ray.ray_actor_options.memory") && p.Contains("'lots'"));
        Assert.Contains(invalid.Problems, p => p.Contains("ray.replicas") && p.Contains("unknown"));
        Assert.Equal(["iris_classifier-py39-catboost11"], Apps(world.Ray39).Applications.Keys);
        Assert.False(report.Succeeded);
    }

    [Fact]
    public async Task A_version_tag_overrides_the_registered_model_tag()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Mlflow.SetModelVersionTag("iris_classifier-py312-catboost12.staging", "1", "ray.num_replicas", "3");
        await world.DeployAsync("ray-cluster-py312");
        var app = Apps(world.Ray312).Applications["iris_classifier-py312-catboost12"];
        Assert.Equal(3, (int)app.DeployedAppConfig!["deployments"]![0]!["num_replicas"]!);
    }

    [Fact]
    public async Task Registry_search_follows_every_page()
    {
        await using var world = await DeployWorld.StartAsync();
        for (var i = 0; i < 7; i++)
        {
            var name = $"m{i}";
            SeedModels.Register(world.Mlflow, SeedModels.All[0] with { AppName = name }, SeedModels.Tags(name), "catboost==1.2.8\n");
        }
        world.Mlflow.CreateRegisteredModel("not-selected.production");

        using var client = new MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory, pageSize: 2);
        var models = await client.SearchRegisteredModelsBySuffixAsync(".staging");

        Assert.Equal(7, models.Count);
        Assert.True(world.Mlflow.Requests.Count(r => r.Path.EndsWith("registered-models/search") && r.Query.Contains("page_token")) >= 3);
    }

    [Fact]
    public async Task A_model_with_only_conda_yaml_is_routed_by_its_conda_python()
    {
        await using var world = await DeployWorld.StartAsync();
        SeedModels.Register(world.Mlflow, SeedModels.All[1], replaceFiles: new Dictionary<string, string?> { ["python_env.yaml"] = null });
        var report = await world.DeployAsync("ray-cluster-py39");
        var model = report.Desired.Models.Single();
        Assert.Equal((ModelOutcomeKind.Selected, "3.9.22"), (model.Kind, model.Python));
        Assert.Equal(AppOutcome.Running, report.Apps.Single().Outcome);
    }

    [Fact]
    public async Task Alias_selects_the_aliased_version_and_an_unset_alias_removes_the_app()
    {
        await using var world = await DeployWorld.StartAsync();
        var v1 = SeedModels.Register(world.Mlflow, SeedModels.All[0]);
        SeedModels.Register(world.Mlflow, SeedModels.All[0]);
        world.Mlflow.SetAlias("iris_classifier-py312-catboost12.staging", "champion", v1);
        var config = world.Config("  alias: champion");

        await world.DeployAsync("ray-cluster-py312", config);
        Assert.Equal("1", (string)Apps(world.Ray312).Applications["iris_classifier-py312-catboost12"].DeployedAppConfig!["args"]!["mlray_version"]!);

        world.Mlflow.DeleteAlias("iris_classifier-py312-catboost12.staging", "champion");
        var removal = await world.DeployAsync("ray-cluster-py312", config);
        Assert.Equal(ModelOutcomeKind.NothingToServe, removal.Desired.Models.Single().Kind);
        Assert.Contains(removal.Plan.Changes, c => c.Kind == AppChangeKind.Removed);
    }

    [Fact]
    public async Task An_unsupported_artifact_scheme_is_reported_for_that_model_only()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Mlflow.CreateRegisteredModel("dbfs-model.staging", SeedModels.Tags("dbfs-model"));
        world.Mlflow.CreateModelVersion("dbfs-model.staging", "dbfs:/models/x");
        var report = await world.DeployAsync("ray-cluster-py312");
        var bad = report.Desired.Models.Single(m => m.RegisteredModel == "dbfs-model.staging");
        Assert.Equal(ModelOutcomeKind.Invalid, bad.Kind);
        Assert.Contains("unsupported artifact scheme", bad.Problems.Single());
        Assert.Contains("version 1", bad.Problems.Single());
        Assert.Equal(AppOutcome.Running, report.Apps.Single().Outcome);
    }

    [Fact]
    public async Task Transient_mlflow_errors_are_retried()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Mlflow.Faults.FailNext = 2;
        var report = await world.DeployAsync("ray-cluster-py312");
        Assert.True(report.Succeeded);
        Assert.Equal(2, world.Mlflow.Requests.Count(r => r.Status == 503));
    }

    [Fact]
    public async Task Mlflow_errors_keep_their_code_and_message()
    {
        await using var world = await DeployWorld.StartAsync();
        using var client = new MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory);
        var e = await Assert.ThrowsAsync<MlflowException>(() => client.GetRegisteredModelAsync("nope"));
        Assert.Equal(404, e.Status);
        Assert.Equal("RESOURCE_DOES_NOT_EXIST", e.ErrorCode);
        Assert.Contains("nope", e.MlflowMessage);
        Assert.Null(await client.GetModelVersionByAliasAsync("nope", "champion"));
    }

    internal static async Task WaitUntil(Func<bool> condition, int seconds = 10)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException("condition not met");
            await Task.Delay(50);
        }
    }
}
