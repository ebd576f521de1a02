using MLRay.Cli.Commands;
using Microsoft.Extensions.Logging.Abstractions;
using MLRay.Emulators.Seed;
using MLRay.Deploy;
using MLRay.Emulators.Mlflow;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Workers;

namespace MLRay.Tests.Integration;

/// <summary>
/// Request budgets against the MLflow emulator's own counts: a reconcile reads the registry in a constant number of
/// searches whatever its size, and a model version's files are downloaded once.
/// </summary>
public class RegistryReadCostTests
{
    private static readonly SeedModel Py312 = SeedModels.All[0];

    private static void RegisterModels(MlflowEmulator mlflow, int count)
    {
        for (var i = 0; i < count; i++) SeedModels.RegisterCopy(mlflow, Py312, $"model-{i:D3}");
    }

    /// <summary>Registry requests (everything but file downloads) of one plan of the py312 cluster.</summary>
    private static async Task<IReadOnlyDictionary<string, int>> PlanAndCountAsync(DeployWorld world, CliServices services)
    {
        var before = world.Mlflow.Requests.Count;
        var plan = await services.Reconciler(services.Config.FindCluster("ray-cluster-py312")!).PlanAsync();
        Assert.All(plan.Desired.Models, m => Assert.Equal(ModelOutcomeKind.Selected, m.Kind));
        return world.Mlflow.RequestCounts(before);
    }

    [Fact]
    public async Task A_warm_reconcile_makes_the_same_two_searches_whatever_the_number_of_models_and_downloads_nothing()
    {
        var warm = new List<IReadOnlyDictionary<string, int>>();
        foreach (var models in new[] { 3, 40 })
        {
            await using var world = await DeployWorld.StartAsync();
            RegisterModels(world.Mlflow, models);
            using var services = new CliServices(world.Config(), DeployWorld.NoEnv, "config.yml");

            var cold = await PlanAndCountAsync(world, services);
            Assert.Equal(models, cold["model-versions/get-download-uri"]);
            Assert.Equal(4 * models, cold["mlflow-artifacts"]); // python_env.yaml, requirements.txt, MLmodel, serving_input_example.json (conda.yaml only when one of the first two is missing)
            Assert.Equal(models, services.Get<MLRay.Registry.ModelEnvironmentCache>().Downloads);

            warm.Add(await PlanAndCountAsync(world, services));
            Assert.Equal(models, services.Get<MLRay.Registry.ModelEnvironmentCache>().Downloads);
        }
        Assert.All(warm, counts => Assert.Equal(
            new Dictionary<string, int> { ["registered-models/search"] = 1, ["model-versions/search"] = 1 }, counts));
    }

    [Fact]
    public async Task The_registry_search_pages_through_every_model()
    {
        await using var world = await DeployWorld.StartAsync();
        RegisterModels(world.Mlflow, 5);
        using var mlflow = new MLRay.Registry.MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory, pageSize: 2, versionPageSize: 2);
        Assert.Equal(5, (await mlflow.SearchRegisteredModelsBySuffixAsync(".staging")).Count);
        Assert.Equal(3, world.Mlflow.RequestCounts()["registered-models/search"]);
        world.Mlflow.SetModelVersionTag("model-002.staging", "1", "ray.num_replicas", "2");
        var versions = await mlflow.SearchModelVersionsBySuffixAsync(".staging");
        Assert.Equal(5, versions.Count);
        Assert.Equal(3, world.Mlflow.RequestCounts()["model-versions/search"]);
        Assert.All(versions, v => Assert.Equal("READY", v.Status));
        // Tags come with the search, so a per-version GET is not needed.
        Assert.Equal("2", versions.Single(v => v.Name == "model-002.staging").TagMap["ray.num_replicas"]);
    }

    [Fact]
    public async Task The_disk_cache_keeps_a_new_process_warm_and_is_safe_to_delete()
    {
        await using var world = await DeployWorld.StartAsync();
        RegisterModels(world.Mlflow, 4);
        var config = world.Config();

        using (var first = new CliServices(config, DeployWorld.NoEnv, "config.yml")) await PlanAndCountAsync(world, first);
        var cacheDir = config.ArtifactCacheDir!;
        Assert.Equal(4, Directory.GetFiles(cacheDir, "*.json").Length);

        using (var restarted = new CliServices(config, DeployWorld.NoEnv, "config.yml"))
        {
            var counts = await PlanAndCountAsync(world, restarted);
            Assert.Equal(0, restarted.Get<MLRay.Registry.ModelEnvironmentCache>().Downloads);
            Assert.False(counts.ContainsKey("mlflow-artifacts"));
        }

        Directory.Delete(cacheDir, recursive: true);
        using (var afterDelete = new CliServices(config, DeployWorld.NoEnv, "config.yml"))
        {
            await PlanAndCountAsync(world, afterDelete);
            Assert.Equal(4, afterDelete.Get<MLRay.Registry.ModelEnvironmentCache>().Downloads);
        }

        using var noCache = new CliServices(config with { ArtifactCache = false }, DeployWorld.NoEnv, "config.yml");
        await PlanAndCountAsync(world, noCache);
        Assert.Equal(4, noCache.Get<MLRay.Registry.ModelEnvironmentCache>().Downloads);
    }

    [Fact]
    public async Task A_server_that_refuses_like_on_versions_is_read_one_model_at_a_time_with_the_same_result()
    {
        await using var world = await DeployWorld.StartAsync();
        RegisterModels(world.Mlflow, 3);
        using var services = new CliServices(world.Config(), DeployWorld.NoEnv, "config.yml");
        var normal = await services.Reconciler(services.Config.FindCluster("ray-cluster-py312")!).PlanAsync();

        world.Mlflow.Faults.RefuseVersionNameLike = true;
        var before = world.Mlflow.Requests.Count;
        var fallback = await services.Reconciler(services.Config.FindCluster("ray-cluster-py312")!).PlanAsync();

        Assert.Equal(normal.Plan.Config.ToJsonString(), fallback.Plan.Config.ToJsonString());
        var searches = world.Mlflow.Requests.Skip(before).Where(r => r.Path.EndsWith("model-versions/search")).ToList();
        Assert.Equal(400, searches[0].Status);
        Assert.Equal(1 + 3, searches.Count);
        Assert.All(searches.Skip(1), r => Assert.Equal(200, r.Status));

        // The refusal is remembered: the next reconcile goes straight to the per-model searches.
        before = world.Mlflow.Requests.Count;
        await services.Reconciler(services.Config.FindCluster("ray-cluster-py312")!).PlanAsync();
        Assert.All(world.Mlflow.Requests.Skip(before).Where(r => r.Path.EndsWith("model-versions/search")), r => Assert.Equal(200, r.Status));
        Assert.Equal(3, world.Mlflow.RequestCounts(before)["model-versions/search"]);
    }

    [Fact]
    public async Task Alias_mode_takes_the_aliases_from_the_registered_model_search()
    {
        await using var world = await DeployWorld.StartAsync();
        RegisterModels(world.Mlflow, 3);
        SeedModels.RegisterCopy(world.Mlflow, Py312, "model-000"); // version 2 of model-000
        world.Mlflow.SetAlias("model-000.staging", "champion", "1");
        world.Mlflow.SetAlias("model-001.staging", "champion", "1");
        using var services = new CliServices(world.Config("  alias: champion"), DeployWorld.NoEnv, "config.yml");
        var cluster = services.Config.FindCluster("ray-cluster-py312")!;

        await services.Reconciler(cluster).PlanAsync();
        var before = world.Mlflow.Requests.Count;
        var plan = await services.Reconciler(cluster).PlanAsync();

        Assert.Equal(new Dictionary<string, int> { ["registered-models/search"] = 1, ["model-versions/search"] = 1 }, world.Mlflow.RequestCounts(before));
        var byModel = plan.Desired.Models.ToDictionary(m => m.RegisteredModel);
        Assert.Equal("1", byModel["model-000.staging"].Version); // the alias, not the latest version 2
        Assert.Equal(ModelOutcomeKind.Selected, byModel["model-001.staging"].Kind);
        Assert.Equal(ModelOutcomeKind.NothingToServe, byModel["model-002.staging"].Kind);
    }

    [Fact]
    public async Task Routing_one_model_costs_a_get_and_one_version_search_however_large_the_registry()
    {
        await using var world = await DeployWorld.StartAsync();
        RegisterModels(world.Mlflow, 30);
        using var services = new CliServices(world.Config(), DeployWorld.NoEnv, "config.yml");
        await services.Registry.ReadAsync("model-007.staging"); // cold: its files once

        var before = world.Mlflow.Requests.Count;
        var candidate = await services.Registry.ReadAsync("model-007.staging");

        Assert.Equal("3.12.11", candidate.Environment!.Python.ToString());
        Assert.Equal(new Dictionary<string, int> { ["registered-models/get"] = 1, ["model-versions/search"] = 1 }, world.Mlflow.RequestCounts(before));
        Assert.Contains("name = 'model-007.staging'", Uri.UnescapeDataString(world.Mlflow.Requests.Last(r => r.Path.EndsWith("model-versions/search")).Query.Replace('+', ' ')));
    }

    [Fact]
    public async Task A_worker_writes_status_tags_from_its_own_read_and_only_when_they_change()
    {
        await using var world = await DeployWorld.StartAsync();
        RegisterModels(world.Mlflow, 5);
        using var services = new CliServices(world.Config(), DeployWorld.NoEnv, "config.yml");
        var cluster = services.Config.FindCluster("ray-cluster-py312")!;
        var wakeUps = new RecordedWakeUps();
        var worker = new ClusterWorker(services.Reconciler(cluster),
            new StatusTagWriter(services.Mlflow, TimeProvider.System, NullLogger<StatusTagWriter>.Instance),
            new WorkerJournal(), wakeUps, new RecordedWakeUps(), wakeUps.Census(services.Config), NullLogger<ClusterWorker>.Instance);
        ClusterDeployRequested[] request = [new() { RoutingKey = "all", Reason = "test" }];

        var before = world.Mlflow.Requests.Count;
        await worker.ReconcileAsync(request, CancellationToken.None); // applies: DEPLOYING, attempt 1
        Assert.Single(wakeUps.Scheduled); // a follow-up check, not a wait inside the reconcile
        await PipelineWorld.WaitUntil(() => world.Ray312.GetApplication("model-004")?["status"]?.GetValue<string>() == "RUNNING");
        await worker.ReconcileAsync(request, CancellationToken.None); // the check: RUNNING
        var first = world.Mlflow.RequestCounts(before);
        Assert.False(first.ContainsKey("model-versions/get"));
        // attempt state at the PUT and with the smoke test's verdict, the smoke_test tag, then status, message, endpoint,
        // updated_at for DEPLOYING and again for RUNNING
        Assert.Equal(5 * (2 + 1 + 4 * 2), first["model-versions/set-tag"]);
        Assert.StartsWith("passed ", world.Mlflow.GetModelVersionTags("model-004.staging", "1")["mlray.ray-cluster-py312.smoke_test"]);
        Assert.Equal("RUNNING", world.Mlflow.GetModelVersionTags("model-004.staging", "1")["mlray.ray-cluster-py312.status"]);

        before = world.Mlflow.Requests.Count;
        await worker.ReconcileAsync(request, CancellationToken.None);
        Assert.Equal(new Dictionary<string, int> { ["registered-models/search"] = 1, ["model-versions/search"] = 1 }, world.Mlflow.RequestCounts(before));
    }
}
