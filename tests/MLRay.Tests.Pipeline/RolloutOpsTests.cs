using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using MLRay.Deploy;
using MLRay.Pipeline;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Topology;

namespace MLRay.Tests.Pipeline;

/// <summary>
/// <c>mlray rollout …</c> (as a process) and the receiver's <c>/ops/rollouts</c> (over HTTP) on a real RabbitMQ, with the
/// rollout state as the worker leaves it: tags set on the emulated MLflow, the gateway's stats from a stub Serve proxy. No
/// worker consumes the cluster queues, so a command is read back from the queue as the worker would get it.
/// (That a pause then holds the weights of a real rollout needs the Ray emulator's gateway data plane: not here.)
/// </summary>
[Collection("broker")]
public sealed class RolloutOpsTests(RabbitMqBroker broker)
{
    private const string Py39 = "ray-cluster-py39";
    private const string Py312 = "ray-cluster-py312";
    private const string Model = "fraud.staging";
    private const string OpsToken = PipelineWorld.OpsToken;
    private static readonly DateTimeOffset Since = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);

    /// <summary>The gateway's stats as the stub Serve proxy answers them: version 2 serves 90 %, version 3 rolls out at 10 %.</summary>
    private const string Stats = """
        {"window_s": 300, "routes": {"/fraud": {"model": "fraud.staging", "versions": {
          "2": {"requests": 180, "errors": 2, "p50_ms": 12.5, "p99_ms": 40.1, "shadow": false},
          "3": {"requests": 20, "errors": 0, "p50_ms": 11.0, "p99_ms": 19.75, "shadow": false}}}}}
        """;

    /// <summary>The pipeline world (py312 in gateway mode behind the stub), a bus-only host that declared the topology, and the stub.</summary>
    private sealed class World(PipelineWorld pipeline, WebApplication serve) : IAsyncDisposable
    {
        public PipelineWorld Pipeline => pipeline;
        public string Config => pipeline.ConfigPath;
        public MLRay.Emulators.Mlflow.MlflowEmulator Mlflow => pipeline.Emulators.Mlflow;
        public WebApplication Serve => serve;

        /// <summary>Registers <paramref name="model"/> (route <c>/fraud</c>) with one version per status given, oldest first.</summary>
        public void Register(string model, params string[] statuses)
        {
            Mlflow.CreateRegisteredModel(model, new Dictionary<string, string>
            {
                [DeploymentTags.Name] = "fraud", [DeploymentTags.NumReplicas] = "1", [DeploymentTags.NumCpus] = "0.5", [DeploymentTags.Memory] = "1",
            });
            foreach (var status in statuses)
            {
                var version = Mlflow.CreateModelVersion(model, $"mlflow-artifacts:/1/{model}/artifacts/model");
                Tag(model, version, MLRayTags.Status, status);
            }
        }

        /// <summary>What the py312 worker writes for a version rolling out at <paramref name="weight"/> % from version <paramref name="from"/>.</summary>
        public void RollingOut(string model, string version, string from, int weight)
        {
            var rollout = new RolloutState { Step = 0, Weight = weight, Since = Since, From = from };
            Tag(model, version, MLRayTags.Status, DeployStatus.RollingOut);
            Tag(model, version, MLRayTags.Message, $"at {weight} % on {Py312} (version {from} takes the rest); next step at 2026-12-03T10:02:00Z");
            Tag(model, version, MLRayTags.SmokeTest, "passed 41 ms");
            Tag(model, version, MLRayTags.Attempt, new AttemptState { Spec = "s", Attempts = 1, SmokeTest = "passed 41 ms", Rollout = rollout }.ToJson());
            Tag(model, version, MLRayTags.Rollout, rollout.ToJson());
        }

        public void Tag(string model, string version, string field, string value) => Mlflow.SetModelVersionTag(model, version, MLRayTags.Key(Py312, field), value);

        public Task<List<ClusterDeployRequested>> TakeAsync(string cluster) => pipeline.TakeAsync(cluster);

        public async ValueTask DisposeAsync()
        {
            await pipeline.DisposeAsync();
            await serve.DisposeAsync();
        }
    }

    private async Task<World> StartAsync(bool opsToken = false)
    {
        var serve = await StartServeStubAsync();
        var keys = opsToken ? await PipelineWorld.OpsTokenKeyAsync() : "";
        var pipeline = await PipelineWorld.StartAsync(broker, extraYaml: keys, py312Extra: $"traffic: gateway\nserve_address: {serve.Urls.First()}/");
        await pipeline.StartWorkerAsync([], router: false);   // declares the queues; consumes none
        return new World(pipeline, serve);
    }

    /// <summary>A cluster's Serve proxy reduced to the gateway's stats path, on a free loopback port.</summary>
    private static async Task<WebApplication> StartServeStubAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/mlray-gateway/stats", () => Results.Text(Stats, "application/json"));
        await app.StartAsync();
        return app;
    }

    private static async Task<JsonNode> JsonAsync(params string[] args)
    {
        var (code, stdout, stderr) = await Programs.RunMlray([.. args, "--output", "json"]);
        Assert.True(code == 0, $"mlray {string.Join(' ', args)}: exit {code}\n{stdout}\n{stderr}");
        return JsonNode.Parse(stdout)!;
    }

    [Fact]
    public async Task A_rollout_command_lands_in_the_clusters_queue_with_the_command_and_the_model()
    {
        await using var world = await StartAsync();
        world.Register(Model, DeployStatus.Undeployed, DeployStatus.Running, DeployStatus.Deploying);
        world.RollingOut(Model, "3", from: "2", weight: 10);

        var sent = await JsonAsync("rollout", "pause", world.Config, Py312, Model);
        var (code, stdout, stderr) = await Programs.RunMlray("rollout", "promote", world.Config, Py312, Model);

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""
            {"cluster": "{{Py312}}", "registered_model": "{{Model}}", "version": "3", "command": "pause", "queue": "{{PipelineTopology.ClusterQueue(Py312)}}"}
            """), sent), sent.ToJsonString());
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains($"asked {Py312} to promote the rollout of {Model} (version 3 at 10 % (version 2 takes the rest)", stdout);
        Assert.Contains($"queued in {PipelineTopology.ClusterQueue(Py312)}: the cluster's worker applies it at its next reconcile", stdout);
        var requests = await world.TakeAsync(Py312);
        Assert.Equal(["pause", "promote"], requests.Select(r => r.RolloutCommand));
        Assert.All(requests, r =>
        {
            Assert.Equal(Model, r.RegisteredModel);
            Assert.Equal("3", r.Version);
            Assert.Equal(PipelineTopology.ClusterQueue(Py312), r.RoutingKey);   // as a replay's: the default exchange's key, only that cluster's queue
            Assert.Equal($"rollout {r.RolloutCommand}", r.Reason);
            Assert.Null(r.ReplayOf);
        });
        Assert.Empty(await world.TakeAsync(Py39));   // no other cluster's worker hears of it
        // The worker parses what the command line sent (ClusterWorker: RolloutCommands.Parse).
        Assert.Equal([RolloutCommand.Pause, RolloutCommand.Promote], requests.Select(r => RolloutCommands.Parse(r.RolloutCommand!)));
    }

    [Fact]
    public async Task A_command_without_a_rollout_in_progress_is_refused_naming_the_model_and_the_cluster_and_nothing_is_queued()
    {
        await using var world = await StartAsync();
        world.Register(Model, DeployStatus.Running);

        var (code, stdout, stderr) = await Programs.RunMlray("rollout", "abort", world.Config, Py312, Model);
        var asJson = await Programs.RunMlray("rollout", "pause", world.Config, Py312, Model, "--output", "json");
        var unknownModel = await Programs.RunMlray("rollout", "resume", world.Config, Py312, "nope.staging");
        var onPy39 = await Programs.RunMlray("rollout", "pause", world.Config, Py39, Model);
        var unknownCluster = await Programs.RunMlray("rollout", "pause", world.Config, "ray-cluster-py311", Model);
        var unknownCommand = await Programs.RunMlray("rollout", "rollback", world.Config, Py312, Model);

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal($"error: no rollout in progress for '{Model}' on '{Py312}'", stderr.Trim());
        Assert.Equal(1, asJson.ExitCode);
        var error = JsonNode.Parse(asJson.Stdout)!["error"]!;
        Assert.Equal("refused", (string?)error["kind"]);
        Assert.Equal(1, (int)error["exit_code"]!);
        Assert.Equal($"no rollout in progress for '{Model}' on '{Py312}'", (string?)error["problems"]![0]!["problem"]);
        Assert.Equal(1, unknownModel.ExitCode);
        Assert.Contains("no rollout in progress for 'nope.staging'", unknownModel.Stderr);
        Assert.Equal(1, onPy39.ExitCode);
        Assert.Contains($"no rollout in progress for '{Model}' on '{Py39}'", onPy39.Stderr);
        Assert.Equal(2, unknownCluster.ExitCode);
        Assert.Contains("no cluster named 'ray-cluster-py311'", unknownCluster.Stderr);
        Assert.Equal(2, unknownCommand.ExitCode);
        Assert.Empty(await world.TakeAsync(Py312));
        Assert.Empty(await world.TakeAsync(Py39));

        // With a rollout in progress but the broker unreachable: exit 3, the broker named by its key, its password not.
        world.RollingOut(Model, world.Mlflow.CreateModelVersion(Model, $"mlflow-artifacts:/1/{Model}/artifacts/model"), from: "1", weight: 50);
        var unreachable = Path.Combine(Path.GetDirectoryName(world.Config)!, "unreachable.yml");
        await File.WriteAllTextAsync(unreachable, (await File.ReadAllTextAsync(world.Config)).Replace(world.Pipeline.BrokerUri.ToString(), "amqp://guest:guest@127.0.0.1:1/"));
        var down = await Programs.RunMlray("rollout", "pause", unreachable, Py312, Model);
        Assert.Equal(3, down.ExitCode);
        Assert.Contains("error: RabbitMQ broker (rabbitmq.uri = amqp://guest:***@127.0.0.1:1/)", down.Stderr);
        Assert.DoesNotContain("guest:guest", down.Stderr);
    }

    [Fact]
    public async Task Status_shows_each_versions_weight_smoke_test_and_the_gateways_figures_and_the_cli_and_the_api_answer_the_same()
    {
        await using var world = await StartAsync(opsToken: true);
        world.Register(Model, DeployStatus.Failed, DeployStatus.Running, DeployStatus.Deploying);
        world.Tag(Model, "1", MLRayTags.Message, "aborted by operator");
        world.RollingOut(Model, "3", from: "2", weight: 10);
        await world.Pipeline.StartReceiverAsync(registerWebhook: false);
        using var http = new HttpClient { BaseAddress = world.Pipeline.ReceiverUri };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OpsToken);

        var status = await JsonAsync("rollout", "status", world.Config, Py312, Model);

        Assert.Equal("gateway", (string?)status["traffic"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""{"route": "/fraud", "window_s": 300, "error": null}"""), status["gateway_stats"]), status.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"version": "3", "from": "2", "weight": 10, "step": 0, "since": "2026-12-03T10:00:00.0000000+00:00", "paused": false}
            """), status["rollout"]), status["rollout"]!.ToJsonString());
        var versions = status["versions"]!.AsArray();
        Assert.Equal(["3", "2", "1"], versions.Select(v => (string)v!["version"]!));
        Assert.Equal([10, 90, 0], versions.Select(v => (int)v!["weight"]!));
        Assert.Equal([DeployStatus.RollingOut, DeployStatus.Running, DeployStatus.Failed], versions.Select(v => (string)v!["status"]!));
        Assert.Equal("passed 41 ms", (string?)versions[0]!["smoke_test"]);
        Assert.Equal("aborted by operator", (string?)versions[2]!["message"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"requests": 20, "errors": 0, "p50_ms": 11.0, "p99_ms": 19.75}"""), versions[0]!["stats"]));
        Assert.Equal(180, (long)versions[1]!["stats"]!["requests"]!);
        Assert.Null(versions[2]!["stats"]);

        (string[] Cli, string Api)[] sameQuestions =
        [
            (["rollout", "status", world.Config, Py312, Model], $"/ops/rollouts/{Py312}/{Model}"),
            (["rollout", "list", world.Config], "/ops/rollouts"),
            (["rollout", "list", world.Config, Py312], $"/ops/rollouts?cluster={Py312}"),
        ];
        foreach (var (cli, api) in sameQuestions)
        {
            var fromCli = await JsonAsync(cli);
            var fromApi = JsonNode.Parse(await http.GetStringAsync(api));
            Assert.True(JsonNode.DeepEquals(fromCli, fromApi), $"mlray {string.Join(' ', cli)}:\n{fromCli}\nGET {api}:\n{fromApi}");
        }
        var listed = Assert.Single((await JsonAsync("rollout", "list", world.Config))["rollouts"]!.AsArray())!;
        Assert.Equal(Py312, (string?)listed["cluster"]);
        Assert.Equal(Model, (string?)listed["registered_model"]);
        Assert.Equal(10, (int)listed["weight"]!);
        Assert.Empty((await JsonAsync("rollout", "list", world.Config, Py39))["rollouts"]!.AsArray());

        var (code, text, stderr) = await Programs.RunMlray("rollout", "status", world.Config, Py312, Model);
        Assert.True(code == 0, $"exit {code}\n{text}\n{stderr}");
        Assert.Contains("rollout: version 3 at 10 % (version 2 takes the rest), step 1 since 2026-12-03T10:00:00Z", text);
        Assert.Contains("90 %", text);
        Assert.Contains("19.8", text);   // version 3's p99
        Assert.Contains("gateway stats over the last 300 s", text);

        // The gateway does not answer: the status still comes, and says so.
        await world.Serve.StopAsync();
        var blind = await JsonAsync("rollout", "status", world.Config, Py312, Model);
        Assert.Contains("the gateway's stats at http://127.0.0.1:", (string?)blind["gateway_stats"]!["error"]);
        Assert.Contains("could not be read", (string?)blind["gateway_stats"]!["error"]);
        Assert.Equal([10, 90, 0], blind["versions"]!.AsArray().Select(v => (int)v!["weight"]!));
        Assert.All(blind["versions"]!.AsArray(), v => Assert.Null(v!["stats"]));
        var blindText = await Programs.RunMlray("rollout", "status", world.Config, Py312, Model);
        Assert.Equal(0, blindText.ExitCode);
        Assert.Contains("gateway stats: the gateway's stats at", blindText.Stdout);

        var unknown = await Programs.RunMlray("rollout", "status", world.Config, Py312, "nope.staging");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("registered model 'nope.staging' does not exist", unknown.Stderr);
    }

    [Fact]
    public async Task Ops_api_rollouts_need_the_token_refuse_what_cannot_be_done_and_queue_a_valid_command()
    {
        await using var world = await StartAsync(opsToken: true);
        world.Register(Model, DeployStatus.Running, DeployStatus.Deploying);
        world.RollingOut(Model, "2", from: "1", weight: 50);
        world.Register("idle.staging", DeployStatus.Running);
        var log = new StringWriter();
        await world.Pipeline.StartReceiverAsync(registerWebhook: false, log: TextWriter.Synchronized(log));
        using var http = new HttpClient { BaseAddress = world.Pipeline.ReceiverUri };
        async Task<(HttpStatusCode Status, JsonNode? Body)> CallAsync(HttpMethod method, string path, string? token = OpsToken)
        {
            using var request = new HttpRequestMessage(method, path);
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, body.Length == 0 ? null : JsonNode.Parse(body));
        }

        var none = await CallAsync(HttpMethod.Post, $"/ops/rollouts/{Py312}/{Model}/pause", token: null);
        var wrong = await CallAsync(HttpMethod.Post, $"/ops/rollouts/{Py312}/{Model}/pause", token: OpsToken + "x");
        var noneList = await CallAsync(HttpMethod.Get, "/ops/rollouts", token: null);
        var wrongStatus = await CallAsync(HttpMethod.Get, $"/ops/rollouts/{Py312}/{Model}", token: "nope");
        var badCommand = await CallAsync(HttpMethod.Post, $"/ops/rollouts/{Py312}/{Model}/rollback");
        var unknownCluster = await CallAsync(HttpMethod.Post, $"/ops/rollouts/ray-cluster-py311/{Model}/pause");
        var unknownClusterList = await CallAsync(HttpMethod.Get, "/ops/rollouts?cluster=ray-cluster-py311");
        var unknownModel = await CallAsync(HttpMethod.Get, $"/ops/rollouts/{Py312}/nope.staging");
        var noRollout = await CallAsync(HttpMethod.Post, $"/ops/rollouts/{Py312}/idle.staging/abort");
        Assert.DoesNotContain(await world.TakeAsync(Py312), r => r.RolloutCommand is not null);   // none of those queued anything

        var accepted = await CallAsync(HttpMethod.Post, $"/ops/rollouts/{Py312}/{Model}/abort");

        Assert.Equal(HttpStatusCode.Unauthorized, none.Status);
        Assert.Equal(HttpStatusCode.Forbidden, wrong.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, noneList.Status);
        Assert.Equal(HttpStatusCode.Forbidden, wrongStatus.Status);
        Assert.Equal(HttpStatusCode.BadRequest, badCommand.Status);
        Assert.Equal("'rollback' is not a rollout command (pause, resume, promote, abort)", (string?)badCommand.Body!["error"]);
        Assert.Equal(HttpStatusCode.NotFound, unknownCluster.Status);
        Assert.Equal($"no cluster named 'ray-cluster-py311' (configured: {Py39}, {Py312})", (string?)unknownCluster.Body!["error"]);
        Assert.Equal(HttpStatusCode.NotFound, unknownClusterList.Status);
        Assert.Equal(HttpStatusCode.NotFound, unknownModel.Status);
        Assert.Equal("registered model 'nope.staging' does not exist", (string?)unknownModel.Body!["error"]);
        Assert.Equal(HttpStatusCode.Conflict, noRollout.Status);
        Assert.Equal($"no rollout in progress for 'idle.staging' on '{Py312}'", (string?)noRollout.Body!["error"]);
        Assert.Equal(HttpStatusCode.Accepted, accepted.Status);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""
            {"cluster": "{{Py312}}", "registered_model": "{{Model}}", "version": "2", "command": "abort", "queue": "{{PipelineTopology.ClusterQueue(Py312)}}"}
            """), accepted.Body), accepted.Body?.ToJsonString());
        var command = Assert.Single(await world.TakeAsync(Py312), r => r.RolloutCommand is not null);   // beside the receiver's start-up resync
        Assert.Equal("abort", command.RolloutCommand);
        Assert.Equal(Model, command.RegisteredModel);
        var logged = log.ToString();
        Assert.Contains("/ops/rollouts", logged);   // an audit trail …
        Assert.Contains("Ops API asked {Cluster} to {Command} the rollout of {Model}", logged);
        Assert.Contains("\"Command\":\"abort\"", logged);
        Assert.DoesNotContain(OpsToken, logged);    // … without the token
    }
}
