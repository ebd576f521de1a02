using MLRay.Deploy;
using MLRay.Emulators.Seed;
using MLRay.Serve;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;

namespace MLRay.Tests.Serving;

/// <summary>
/// A rollout survives its worker: the state is on the candidate's tags and the step timer is a wake-up on the broker, so a
/// hot standby (real <c>mlray-worker</c> processes, single active consumer on RabbitMQ) carries it on from the same step.
/// </summary>
[Collection("broker")]
public class RolloutHandoverTests(RabbitMqBroker broker)
{
    private const string Cluster = "ray-cluster-py312";
    private static readonly SeedModel Model = SeedModels.All[0];

    [Fact]
    public async Task A_worker_SIGKILLed_mid_rollout_leaves_the_standby_to_carry_it_on_from_the_same_step()
    {
        await using var world = await PipelineWorld.StartAsync(broker, py312Extra: "traffic: gateway\nrollout: {interval: 3s, min_requests: 5}");
        var ray = world.Emulators.Ray312;
        await world.StartWorkerAsync([], router: true);
        await world.StartReceiverAsync();
        using var active = WorkerProcess.Start(world.ConfigPath, [Cluster]);
        await active.WaitReadyAsync();
        using var standby = WorkerProcess.Start(world.ConfigPath, [Cluster]);
        await standby.WaitReadyAsync();

        string? Tag(string version, string field) =>
            world.Emulators.Mlflow.GetModelVersionTags(Model.RegisteredName, version).GetValueOrDefault(MLRayTags.Key(Cluster, field));
        RolloutState? Rollout(string version) => RolloutState.Parse(Tag(version, MLRayTags.Rollout));
        IReadOnlyDictionary<string, int> Weights() => ServingHarness.WeightsIn(ray.GetApplication(GatewayLayout.AppName)?["deployed_app_config"] as JsonObject);

        SeedModels.Register(world.Emulators.Mlflow, Model);
        await PipelineWorld.WaitUntil(() => Tag("1", MLRayTags.Status) == DeployStatus.Running, seconds: 60, what: "version 1 RUNNING");
        await using var client = new ServeClient(ray.ServeUri, "/" + Model.AppName).Start();

        SeedModels.Register(world.Emulators.Mlflow, Model);
        await PipelineWorld.WaitUntil(() => Rollout("2") is { Weight: 10 }, seconds: 60, what: "version 2 at 10 %");
        var step = Rollout("2")!;
        var smokeTests = ray.ServeCalls.Count(c => c is { Version: "2", Pinned: true });
        active.Kill();
        var killedAt = active.KilledAt!.Value;

        await PipelineWorld.WaitUntil(() => Rollout("2") is { Done: true }, seconds: 60, what: "the standby finished the rollout");
        var after = ray.Requests.Where(r => r is { Method: "PUT" } && r.At > killedAt)
            .Select(r => ServingHarness.WeightsIn(((JsonObject)JsonNode.Parse(r.Body)!)["applications"]!.AsArray().OfType<JsonObject>()
                .Single(a => (string)a["name"]! == GatewayLayout.AppName)).GetValueOrDefault("2", -1))
            .ToList();
        Assert.Equal([50, 100], after.Where(w => w >= 0).Distinct()); // on from 10 %: never back to 0 or 10
        Assert.Equal(smokeTests, ray.ServeCalls.Count(c => c is { Version: "2", Pinned: true })); // verified once, not again
        var carried = RolloutState.Parse(Tag("2", MLRayTags.Rollout))!;
        Assert.Equal(step.From, carried.From);
        Assert.True(carried.Step > step.Step);
        Assert.Equal(DeployStatus.Running, Tag("2", MLRayTags.Status));
        Assert.Equal(new Dictionary<string, int> { ["2"] = 100 }, Weights());
        await client.StopAsync();
        Assert.True(client.Answers.All(a => a.Status == 200), string.Join("\n", client.Failures.Take(3)));
    }
}
