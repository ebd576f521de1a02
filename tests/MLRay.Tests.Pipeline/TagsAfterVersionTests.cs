using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Tests.Broker;

namespace MLRay.Tests.Pipeline;

/// <summary>
/// The order the MLflow docs and most notebooks use: log and register the version, then tag the registered model. Tagging
/// a registered model sends no webhook (MLflow has no such event), so the version's webhook arrives first: MLRay waits
/// (PENDING) instead of dead-lettering, and the next resync deploys it. A dead letter of a version that later runs goes.
/// </summary>
[Collection("broker")]
public class TagsAfterVersionTests(RabbitMqBroker broker)
{
    private const string Py39 = "ray-cluster-py39";
    private static readonly SeedModel Model = SeedModels.All[1];   // iris_classifier-py39-catboost12: installs on the py39 cluster

    private static Dictionary<string, string> Tags(PipelineWorld world) =>
        world.Emulators.Mlflow.GetModelVersionTags(Model.RegisteredName, "1").ToDictionary();

    private async Task<int> LetterCountAsync(PipelineWorld world) =>
        (await broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.DeadLetterQueue(Py39), 50)).Count;

    [Fact]
    public async Task A_version_registered_before_its_models_tags_is_pending_and_runs_after_the_next_resync_with_no_dead_letter()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py39]);

        SeedModels.Register(world.Emulators.Mlflow, Model, tags: new Dictionary<string, string>());   // the version's webhook: no ray.* tags yet
        await PipelineWorld.WaitUntil(() => Tags(world).GetValueOrDefault($"mlray.{Py39}.status") == "PENDING", what: "PENDING");
        Assert.Equal("waiting for ray.* tags on the registered model", Tags(world)[$"mlray.{Py39}.message"]);
        Assert.Equal(0, await LetterCountAsync(world));
        Assert.Equal(0, world.Emulators.Ray39.PutCount);

        foreach (var (key, value) in SeedModels.Tags(Model.AppName))
            world.Emulators.Mlflow.SetRegisteredModelTag(Model.RegisteredName, key, value);   // no webhook for these
        await world.ResyncAndWaitAsync(Py39);
        await PipelineWorld.WaitUntil(() => Tags(world).GetValueOrDefault($"mlray.{Py39}.status") == "RUNNING", what: "RUNNING after the resync");

        Assert.Equal(0, await LetterCountAsync(world));
        Assert.Equal("RUNNING", world.Emulators.Ray39.GetApplication(Model.AppName)?["status"]?.GetValue<string>());
    }

    [Fact]
    public async Task A_dead_letter_of_a_version_that_later_runs_on_its_cluster_is_removed()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py39]);

        var broken = new Dictionary<string, string>(SeedModels.Tags(Model.AppName)) { ["ray.num_replicas"] = "many" };
        SeedModels.Register(world.Emulators.Mlflow, Model, broken);
        await PipelineWorld.WaitUntil(() => LetterCountAsync(world).GetAwaiter().GetResult() == 1, what: "the permanent dead letter");
        await PipelineWorld.WaitUntil(() => Tags(world).GetValueOrDefault($"mlray.{Py39}.status") == "FAILED", what: "FAILED");   // letters go before tags
        Assert.Contains("ray.num_replicas", Tags(world)[$"mlray.{Py39}.message"]);

        world.Emulators.Mlflow.SetRegisteredModelTag(Model.RegisteredName, "ray.num_replicas", "1");
        await world.ResyncAndWaitAsync(Py39);
        await PipelineWorld.WaitUntil(() => Tags(world).GetValueOrDefault($"mlray.{Py39}.status") == "RUNNING", what: "RUNNING once fixed");
        await PipelineWorld.WaitUntil(() => LetterCountAsync(world).GetAwaiter().GetResult() == 0, what: "the stale dead letter removed");
        Assert.DoesNotContain("stale_dead_letter", Tags(world)[$"mlray.{Py39}.attempt"]);
    }
}
