using MLRay.Deploy;
using MLRay.Emulators.Seed;
using MLRay.Serve;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;

namespace MLRay.Tests.Serving;

/// <summary>
/// <c>mlray rollout pause|resume|promote|abort</c> on a real rollout: the command goes through the cluster's queue on
/// RabbitMQ to its worker, and the gateway's weights on the emulated Ray do what the command says.
/// </summary>
[Collection("broker")]
public class RolloutCommandTests(RabbitMqBroker broker)
{
    private const string Cluster = "ray-cluster-py312";
    private static readonly SeedModel Model = SeedModels.All[0];

    [Fact]
    public async Task Pause_holds_the_weights_resume_goes_on_promote_jumps_to_100_and_abort_rolls_back_with_a_letter()
    {
        await using var world = await PipelineWorld.StartAsync(broker,
            py312Extra: "traffic: gateway\nrollout: {interval: 2s, min_requests: 3}\nretry: {attempts: 1, delays: [1s]}");
        var ray = world.Emulators.Ray312;
        await world.StartWorkerAsync([Cluster], router: true);
        await world.StartReceiverAsync();
        string? Tag(string version, string field) =>
            world.Emulators.Mlflow.GetModelVersionTags(Model.RegisteredName, version).GetValueOrDefault(MLRayTags.Key(Cluster, field));
        RolloutState? Rollout(string version) => AttemptState.Parse(Tag(version, MLRayTags.Attempt))?.Rollout;
        IReadOnlyDictionary<string, int> Weights() => ServingHarness.WeightsIn(ray.GetApplication(GatewayLayout.AppName)?["deployed_app_config"] as JsonObject);
        Task<(int ExitCode, string Stdout, string Stderr)> Rollout_(string command) => Programs.RunMlray("rollout", command, world.ConfigPath, Cluster, Model.RegisteredName);

        SeedModels.Register(world.Emulators.Mlflow, Model);
        await PipelineWorld.WaitUntil(() => Tag("1", MLRayTags.Status) == DeployStatus.Running, seconds: 60, what: "version 1 RUNNING");
        await using var client = new ServeClient(ray.ServeUri, "/" + Model.AppName).Start();

        SeedModels.Register(world.Emulators.Mlflow, Model);
        await PipelineWorld.WaitUntil(() => Rollout("2") is { Weight: 10 }, seconds: 60, what: "version 2 at 10 %");
        var paused = await Rollout_("pause");
        Assert.True(paused.ExitCode == 0, paused.Stdout + paused.Stderr);
        await PipelineWorld.WaitUntil(() => Rollout("2") is { Paused: true }, what: "paused");
        await Task.Delay(TimeSpan.FromSeconds(5)); // two intervals and more: a running rollout would have moved on
        Assert.Equal((10, true), (Rollout("2")!.Weight, Rollout("2")!.Paused));
        Assert.Equal(10, Weights()["2"]);
        Assert.Contains("paused by an operator", Tag("2", MLRayTags.Message));

        Assert.Equal(0, (await Rollout_("promote")).ExitCode);
        await PipelineWorld.WaitUntil(() => Weights().GetValueOrDefault("2") == 100, what: "promoted to 100 %");
        await PipelineWorld.WaitUntil(() => Tag("2", MLRayTags.Status) == DeployStatus.Running && ray.GetApplication($"{Model.AppName}--v1") is null,
            what: "version 2 RUNNING, version 1's app gone");

        // The next version: aborted at its first step, the running version takes the route back.
        SeedModels.Register(world.Emulators.Mlflow, Model);
        await PipelineWorld.WaitUntil(() => Rollout("3") is { Weight: 10 }, seconds: 60, what: "version 3 at 10 %");
        var aborted = await Rollout_("abort");
        Assert.True(aborted.ExitCode == 0, aborted.Stdout + aborted.Stderr);
        await PipelineWorld.WaitUntil(() => Weights() is { Count: 1 } w && w.GetValueOrDefault("2") == 100 && ray.GetApplication($"{Model.AppName}--v3") is null,
            what: "version 2 alone again");
        Assert.Equal(DeployStatus.Failed, Tag("3", MLRayTags.Status));
        Assert.Contains("aborted by operator", Tag("3", MLRayTags.Message));
        var (code, listing, _) = await Programs.RunMlray("dlq", "list", world.ConfigPath, Cluster, "--output", "json");
        Assert.Contains("aborted by operator", listing);

        var nothing = await Rollout_("pause"); // no rollout any more
        Assert.Equal(1, nothing.ExitCode);
        Assert.Contains("no rollout in progress", nothing.Stdout + nothing.Stderr);
        await client.StopAsync();
        Assert.True(client.Answers.All(a => a.Status == 200), string.Join("\n", client.Failures.Take(3)));
    }
}
