using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Serve;
using MLRay.Tests.Broker;

namespace MLRay.Tests.Pipeline;

/// <summary>
/// Failed installs through the whole pipeline on real RabbitMQ: attempts that Ray really retries, rollback to the last
/// good version, dead letters, and failures that never hold up the other models of a cluster.
/// </summary>
[Collection("broker")]
public class FailedInstallTests(RabbitMqBroker broker)
{
    private const string Py39 = "ray-cluster-py39", Py312 = "ray-cluster-py312";
    private const string Arm = "iris_classifier-py39-catboost11", ArmNeighbour = "iris_classifier-py39-catboost12", Py312App = "iris_classifier-py312-catboost12";

    private static Dictionary<string, string> Tags(PipelineWorld world, string app, string version = "1") =>
        world.Emulators.Mlflow.GetModelVersionTags(app + ".staging", version).ToDictionary();

    private static string? Status(PipelineWorld world, string app, string cluster, string version = "1") =>
        Tags(world, app, version).GetValueOrDefault($"mlray.{cluster}.status");

    private async Task<List<JsonObject>> LettersAsync(PipelineWorld world, string cluster) =>
        (await broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.DeadLetterQueue(cluster), 50))
        .Select(m => JsonNode.Parse(m.Body)!["message"]!.AsObject()).ToList();

    private static List<string> ReplicaIds(JsonObject? app) =>
        app?["deployments"]?.AsObject().SelectMany(d => d.Value!["replicas"]!.AsArray().Select(r => (string)r!["replica_id"]!)).Order().ToList() ?? [];

    [Fact]
    public async Task Arm_catboost_is_tried_the_configured_times_by_ray_then_dead_lettered_while_its_neighbour_keeps_its_replicas()
    {
        await using var world = await PipelineWorld.StartAsync(broker, extraYaml: "retry: {attempts: 3, delays: [1s]}");
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py39]);
        var ray = world.Emulators.Ray39;

        world.Emulators.RegisterSeed();
        await PipelineWorld.WaitUntil(() => ray.GetApplication(ArmNeighbour)?["status"]?.GetValue<string>() == "RUNNING", what: "neighbour RUNNING");
        var replicas = ReplicaIds(ray.GetApplication(ArmNeighbour));
        List<JsonObject> letters = [];
        await PipelineWorld.WaitUntil(() => (letters = LettersAsync(world, Py39).GetAwaiter().GetResult()).Count > 0, seconds: 60, what: "a dead letter");

        var letter = Assert.Single(letters);
        Assert.Equal(("install", 3, Arm + ".staging", "1", Arm), ((string)letter["failureClass"]!, (int)letter["attempts"]!,
            (string)letter["registeredModel"]!, (string)letter["version"]!, (string)letter["app"]!));
        Assert.Contains("No matching distribution found for catboost==1.1", (string)letter["message"]!);
        Assert.NotEmpty(letter["deliveryIds"]!.AsArray());
        // Each attempt was a real install in Ray, not an answer from its 10-minute bad-env cache.
        var builds = ray.Builds.Where(b => b.App == Arm).ToList();
        Assert.Equal(3, builds.Count);
        Assert.All(builds, b => Assert.False(b.FromBadEnvCache));
        Assert.Equal(3, builds.Select(b => b.RuntimeEnv).Distinct().Count());

        // The letter is written before the tags (a tag naming a letter never written would lie): wait for the tags.
        await PipelineWorld.WaitUntil(() => Tags(world, Arm).GetValueOrDefault($"mlray.{Py39}.attempt")?.Contains((string)letter["id"]!) == true
                                            && Status(world, Arm, Py39) == "FAILED", what: "the dead-lettered version's tags");
        var tags = Tags(world, Arm);
        Assert.Equal("FAILED", tags[$"mlray.{Py39}.status"]);
        Assert.Contains("No matching distribution found for catboost==1.1", tags[$"mlray.{Py39}.message"]);
        Assert.Contains("dead-lettered", tags[$"mlray.{Py39}.message"]);
        Assert.Contains((string)letter["id"]!, tags[$"mlray.{Py39}.attempt"]);
        // It never ran, so it is off the cluster; its neighbour ran throughout on the same replicas.
        await PipelineWorld.WaitUntil(() => ray.GetApplication(Arm) is null, what: "the failed app removed (after DELETING)");
        Assert.Equal("RUNNING", ray.GetApplication(ArmNeighbour)!["status"]!.GetValue<string>());
        Assert.Equal(replicas, ReplicaIds(ray.GetApplication(ArmNeighbour)));
        Assert.Equal("RUNNING", Status(world, ArmNeighbour, Py39));

        // Dead-lettered means stopped: a resync does not try it again.
        await world.ResyncAndWaitAsync(Py39);
        Assert.Equal(3, ray.Builds.Count(b => b.App == Arm));
        Assert.Single(await LettersAsync(world, Py39));
    }

    [Fact]
    public async Task A_failing_v2_rolls_back_to_v1_followed_until_ray_runs_it_is_dead_lettered_and_left_alone_until_a_working_v3_replaces_v1()
    {
        await using var world = await PipelineWorld.StartAsync(broker, extraYaml: "retry: {attempts: 2, delays: [1s]}");
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py312]);
        var ray = world.Emulators.Ray312;
        ray.Options.MissingWheels.Add(("catboost==9.9", "x86_64"));
        var model = SeedModels.All[0];
        string? Version() => ray.GetApplication(Py312App)?["deployed_app_config"]?["args"]?["mlray_version"]?.GetValue<string>();
        string? RayStatus() => ray.GetApplication(Py312App)?["status"]?.GetValue<string>();
        List<(DateTimeOffset At, string Value)> V1StatusWrites() => [.. world.Emulators.Mlflow.Requests
            .Where(r => r.Path.EndsWith("model-versions/set-tag", StringComparison.Ordinal))
            .Select(r => (r.At, Body: JsonNode.Parse(r.Body)!))
            .Where(r => (string?)r.Body["version"] == "1" && (string?)r.Body["key"] == $"mlray.{Py312}.status")
            .Select(r => (r.At, (string)r.Body["value"]!))];

        SeedModels.Register(world.Emulators.Mlflow, model);
        await PipelineWorld.WaitUntil(() => Status(world, Py312App, Py312) == "RUNNING", what: "v1 RUNNING");

        SeedModels.Register(world.Emulators.Mlflow, model, requirementsOverride: "mlflow==3.1.0\ncatboost==9.9\n");
        await PipelineWorld.WaitUntil(() => LettersAsync(world, Py312).GetAwaiter().GetResult().Count > 0, seconds: 60, what: "v2 dead-lettered");
        await PipelineWorld.WaitUntil(() => Version() == "1" && RayStatus() == "RUNNING", what: "v1 RUNNING again in GET");

        // The rollback PUT is followed: v1's tag says DEPLOYING from the rollback, and RUNNING only once a GET after that
        // PUT showed v1 running again.
        var rollback = ray.Requests.Last(r => r is { Method: "PUT", Status: 200 }
            && JsonNode.Parse(r.Body)!["applications"]!.AsArray().Any(a => (string?)a!["args"]?["mlray_version"] == "1"));
        await PipelineWorld.WaitUntil(() => V1StatusWrites().Any(w => w.At > rollback.At && w.Value == "RUNNING"), what: "v1 RUNNING written after the rollback");
        var firstV2 = ray.Requests.First(r => r.Method == "PUT" && r.Body.Contains("catboost==9.9", StringComparison.Ordinal));
        var writes = V1StatusWrites().Where(w => w.At > firstV2.At).ToList();
        Assert.Equal(["DEPLOYING", "RUNNING"], writes.Select(w => w.Value)); // from the first rollback (between attempts) on
        Assert.Equal("RUNNING", V1StatusWrites()[^1].Value);
        Assert.Contains(ray.Requests, r => r.Method == "GET" && r.At > rollback.AnsweredAt && r.AnsweredAt < writes[^1].At);
        Assert.Equal("RUNNING", Status(world, Py312App, Py312, "1"));
        Assert.Equal("FAILED", Status(world, Py312App, Py312, "2"));
        Assert.Contains("No matching distribution found for catboost==9.9", Tags(world, Py312App, "2")[$"mlray.{Py312}.message"]);
        Assert.Contains("version 1 serves", Tags(world, Py312App, "2")[$"mlray.{Py312}.message"]);
        Assert.Equal(2, ray.Builds.Count(b => b.RuntimeEnv.Contains("catboost==9.9")));

        await world.ResyncAndWaitAsync(Py312);
        Assert.Equal(2, ray.Builds.Count(b => b.RuntimeEnv.Contains("catboost==9.9")));
        Assert.Equal("1", Version());

        SeedModels.Register(world.Emulators.Mlflow, model);
        await PipelineWorld.WaitUntil(() => Status(world, Py312App, Py312, "3") == "RUNNING", what: "v3 RUNNING");
        Assert.Equal("3", Version());
        Assert.Equal("UNDEPLOYED", Status(world, Py312App, Py312, "1"));
        Assert.Single(await LettersAsync(world, Py312));
    }

    [Fact]
    public async Task Mlray_deploy_does_not_put_a_version_the_pipeline_dead_lettered_and_names_the_replay_command_exit_1()
    {
        await using var world = await PipelineWorld.StartAsync(broker, extraYaml: "retry: {attempts: 1}");
        await world.StartReceiverAsync();
        var worker = await world.StartWorkerAsync([Py312]);
        var ray = world.Emulators.Ray312;
        ray.Options.MissingWheels.Add(("catboost==9.9", "x86_64"));
        var model = SeedModels.All[0];
        SeedModels.Register(world.Emulators.Mlflow, model);
        await PipelineWorld.WaitUntil(() => Status(world, Py312App, Py312) == "RUNNING", what: "v1 RUNNING");
        SeedModels.Register(world.Emulators.Mlflow, model, requirementsOverride: "mlflow==3.1.0\ncatboost==9.9\n");
        await PipelineWorld.WaitUntil(() => Status(world, Py312App, Py312, "2") == "FAILED" && Status(world, Py312App, Py312, "1") == "RUNNING",
            seconds: 60, what: "v2 dead-lettered, v1 serving again");
        await world.StopAsync(worker); // only the CLI touches the cluster from here on
        var letter = (string)Assert.Single(await LettersAsync(world, Py312))["id"]!;
        var v2Puts = ray.Requests.Count(r => r.Method == "PUT" && r.Body.Contains("catboost==9.9", StringComparison.Ordinal));

        var (code, stdout, stderr) = await Programs.RunMlray("deploy", world.ConfigPath, Py312, "--output", "json");
        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var entry = JsonNode.Parse(stdout)!["models"]!.AsArray().Single(m => (string)m!["registered_model"]! == Py312App + ".staging")!;
        Assert.Equal(("2", "dead_lettered", letter, "1"), ((string)entry["version"]!, (string)entry["outcome"]!, (string)entry["dead_letter"]!, (string)entry["served_version"]!));
        Assert.Equal($"mlray dlq replay {world.ConfigPath} {Py312} --id {letter}", (string)entry["replay"]!);

        (code, stdout, stderr) = await Programs.RunMlray("deploy", world.ConfigPath, Py312);
        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains($"{Py312App}.staging version 2: dead-lettered (mlray dlq replay {world.ConfigPath} {Py312} --id {letter})", stdout);
        Assert.Contains($"not deployed; version 1 serves on {Py312} instead.", stdout);

        Assert.Equal(v2Puts, ray.Requests.Count(r => r.Method == "PUT" && r.Body.Contains("catboost==9.9", StringComparison.Ordinal)));
        Assert.Equal("1", ray.GetApplication(Py312App)?["deployed_app_config"]?["args"]?["mlray_version"]?.GetValue<string>());
    }

    [Fact]
    public async Task A_bad_tag_is_dead_lettered_at_once_without_retries_naming_the_tag_and_its_value()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py312]);
        var model = SeedModels.All[0];
        SeedModels.Register(world.Emulators.Mlflow, model, tags: new Dictionary<string, string>(SeedModels.Tags(model.AppName)) { ["ray.num_replicas"] = "two" });

        List<JsonObject> letters = [];
        await PipelineWorld.WaitUntil(() => (letters = LettersAsync(world, Py312).GetAwaiter().GetResult()).Count > 0, what: "a dead letter");
        var letter = Assert.Single(letters);
        Assert.Equal(("permanent", 0), ((string)letter["failureClass"]!, (int)letter["attempts"]!));
        Assert.Contains("ray.num_replicas", (string)letter["message"]!);
        Assert.Contains("'two'", (string)letter["message"]!);
        await PipelineWorld.WaitUntil(() => Status(world, model.AppName, Py312) == "FAILED", what: "FAILED (tags follow the letter)");

        await world.ResyncAndWaitAsync(Py312);
        Assert.Single(await LettersAsync(world, Py312));
        Assert.Equal(0, world.Emulators.Ray312.PutCount);
    }

    [Fact]
    public async Task Ray_answering_503_for_20_seconds_delays_the_deploy_but_dead_letters_nothing()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py312]);
        var ray = world.Emulators.Ray312;
        ray.Options.FailNextGets = 100_000;

        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]);
        await Task.Delay(TimeSpan.FromSeconds(20));
        Assert.Equal(0, ray.PutCount);
        Assert.True(ray.Requests.Count(r => r.Status == 503) >= 4, "the worker kept trying through the outage");
        ray.Options.FailNextGets = 0;

        await PipelineWorld.WaitUntil(() => Status(world, Py312App, Py312) == "RUNNING", seconds: 45, what: "deployed after the outage");
        Assert.Empty(await LettersAsync(world, Py312));
        Assert.True(await broker.QueueMessageCountAsync(world.BrokerUri.ToString(), PipelineTopology.ErrorQueue(PipelineTopology.ClusterQueue(Py312))) <= 0);
    }

    [Fact]
    public async Task A_registration_while_another_app_installs_for_30_seconds_gets_its_put_within_a_second()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Py312]);
        var ray = world.Emulators.Ray312;
        ray.Options.SlowPackages["slowpkg"] = TimeSpan.FromSeconds(30);

        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0] with { AppName = "slow-model" }, SeedModels.Tags("slow-model"),
            "mlflow==3.1.0\nslowpkg==1.0\n");
        await PipelineWorld.WaitUntil(() => ray.PutCount >= 1, what: "slow model applied");
        await Task.Delay(1500); // it is installing now

        SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], "quick-model");
        await PipelineWorld.WaitUntil(() => ray.PutBodies.Any(p => p.Contains("\"quick-model\"")), seconds: 10, what: "quick model's PUT");
        await world.Emulators.Mlflow.WaitForWebhookDeliveriesAsync(TimeSpan.FromSeconds(5));
        var answered = world.Emulators.Mlflow.WebhookDeliveries
            .Where(d => d.Event == "model_version.created" && d.Body.Contains("quick-model.staging")).Min(d => d.AnsweredAt);
        var put = ray.Requests.Where(r => r.Method == "PUT" && r.Body.Contains("\"quick-model\"")).Min(r => r.At);
        Assert.True(put - answered < TimeSpan.FromSeconds(1), $"PUT {(put - answered).TotalMilliseconds:F0} ms after the webhook was answered");
        // The installing app was carried in that PUT exactly as first applied, so Ray went on with its install.
        JsonNode? Slow(string body) => JsonNode.Parse(body)!["applications"]!.AsArray().Single(x => (string)x!["name"]! == "slow-model");
        Assert.True(JsonNode.DeepEquals(Slow(ray.PutBodies[0]), Slow(ray.PutBodies.First(p => p.Contains("\"quick-model\"")))));
        Assert.Equal("DEPLOYING", ray.GetApplication("slow-model")!["status"]!.GetValue<string>());
    }
}
