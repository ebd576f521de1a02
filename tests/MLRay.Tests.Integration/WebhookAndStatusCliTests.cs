using System.Text.RegularExpressions;
using MLRay.Emulators.Seed;

namespace MLRay.Tests.Integration;

/// <summary><c>mlray webhook register|test</c> and <c>mlray status</c>, as a process, against the emulators.</summary>
public class WebhookAndStatusCliTests
{
    private const string Secret = "s3cr3t-0123456789abcdef0123456789abcdef";
    private const string ReceiverUrl = "https://mlray-receiver.example/webhooks/mlflow";

    private static readonly string[] ExpectedEvents =
    [
        "MODEL_VERSION/CREATED", "MODEL_VERSION_ALIAS/CREATED", "MODEL_VERSION_ALIAS/DELETED",
        "MODEL_VERSION_TAG/SET", "MODEL_VERSION_TAG/DELETED", "REGISTERED_MODEL/CREATED",
    ];

    /// <summary>A config whose receiver secret comes from a variable set in the <c>.env</c> next to it.</summary>
    private static string ConfigWithSecret(DeployWorld world)
    {
        var config = world.WriteConfigFile("receiver:\n  webhook_secret_env: MLRAY_TEST_WEBHOOK_SECRET");
        File.WriteAllText(Path.Combine(world.WorkingDir, ".env"), $"MLRAY_TEST_WEBHOOK_SECRET={Secret}\n");
        return config;
    }

    private static IEnumerable<string> Events(JsonNode? events) =>
        events!.AsArray().Select(e => $"{(string)e!["entity"]!}/{(string)e["action"]!}");

    [Fact]
    public async Task Register_creates_the_webhook_with_uppercase_events_and_never_prints_the_secret()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = ConfigWithSecret(world);

        var (code, stdout, stderr) = await Programs.RunMlray("webhook", "register", config, "--url", ReceiverUrl);

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var post = Assert.Single(world.Mlflow.Requests, r => r.Method == "POST" && r.Path == "/api/2.0/mlflow/webhooks");
        var body = JsonNode.Parse(post.Body)!;
        Assert.Equal("mlray", (string)body["name"]!);
        Assert.Equal(ReceiverUrl, (string)body["url"]!);
        Assert.Equal(Secret, (string)body["secret"]!);
        Assert.Equal(ExpectedEvents, Events(body["events"]));
        Assert.Equal(200, post.Status);

        var list = await ListWebhooks(world);
        var hook = Assert.Single(list);
        Assert.Contains((string)hook!["webhook_id"]!, stdout);
        Assert.Equal(ExpectedEvents, Events(hook["events"]));
        Assert.DoesNotContain(Secret, stdout);
        Assert.DoesNotContain(Secret, stderr);
    }

    [Fact]
    public async Task A_second_register_patches_the_existing_webhook_instead_of_creating_another()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = ConfigWithSecret(world);
        var (first, out1, err1) = await Programs.RunMlray("webhook", "register", config, "--url", ReceiverUrl);
        Assert.True(first == 0, $"exit {first}\n{out1}\n{err1}");
        var id = (string)(await ListWebhooks(world)).Single()!["webhook_id"]!;

        var (code, stdout, stderr) = await Programs.RunMlray("webhook", "register", config, "--url", "https://elsewhere.example/webhooks/mlflow");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Single(world.Mlflow.Requests, r => r.Method == "POST" && r.Path == "/api/2.0/mlflow/webhooks");
        var patch = Assert.Single(world.Mlflow.Requests, r => r.Method == "PATCH");
        Assert.Equal($"/api/2.0/mlflow/webhooks/{id}", patch.Path);
        var body = JsonNode.Parse(patch.Body)!;
        Assert.Equal("https://elsewhere.example/webhooks/mlflow", (string)body["url"]!);
        Assert.Equal(Secret, (string)body["secret"]!);
        Assert.Equal(ExpectedEvents, Events(body["events"]));
        var hook = Assert.Single(await ListWebhooks(world));
        Assert.Equal(id, (string)hook!["webhook_id"]!);
        Assert.Equal("https://elsewhere.example/webhooks/mlflow", (string)hook["url"]!);
        Assert.Contains(id, stdout);
        Assert.DoesNotContain(Secret, stdout + stderr);
    }

    [Fact]
    public async Task Register_refuses_without_a_secret_unless_told_and_contacts_nothing()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await Programs.RunMlray("webhook", "register", config, "--url", ReceiverUrl);

        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("no webhook secret", stderr);
        Assert.Contains("--no-secret", stderr);
        Assert.Empty(world.Mlflow.Requests);

        var (unsigned, out2, err2) = await Programs.RunMlray("webhook", "register", config, "--url", ReceiverUrl, "--no-secret", "--name", "unsigned");
        Assert.True(unsigned == 0, $"exit {unsigned}\n{out2}\n{err2}");
        var body = JsonNode.Parse(Assert.Single(world.Mlflow.Requests, r => r.Method == "POST").Body)!;
        Assert.Equal("unsigned", (string)body["name"]!);
        Assert.Null(body["secret"]);
    }

    [Fact]
    public async Task Plan_and_status_run_without_the_receivers_secrets_and_register_names_the_unset_variable()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        // Neither variable is set: only the receiver (and webhook register) use them.
        var config = world.WriteConfigFile("receiver:\n  webhook_secret_env: MLRAY_TEST_UNSET_WEBHOOK_SECRET\n  ops_token_env: MLRAY_TEST_UNSET_OPS_TOKEN");

        var (plan, planOut, planErr) = await Programs.RunMlray("plan", config, "ray-cluster-py312");
        Assert.True(plan == 0, $"plan: exit {plan}\n{planOut}\n{planErr}");
        var (status, statusOut, statusErr) = await Status(config);
        // 1: the seed's models are selected but not deployed; what matters here is that it ran (not 2, a config error).
        Assert.True(status == 1, $"status: exit {status}\n{statusOut}\n{statusErr}");
        Assert.DoesNotContain("config error", statusErr);
        var requests = world.Mlflow.Requests.Count;

        var (code, stdout, stderr) = await Programs.RunMlray("webhook", "register", config, "--url", ReceiverUrl);

        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Matches($@"^config error: {Regex.Escape(config)}:\d+:\d+: receiver.webhook_secret_env: names MLRAY_TEST_UNSET_WEBHOOK_SECRET, which is not set \(in the environment or .env\)\n$", stderr);
        Assert.Equal(requests, world.Mlflow.Requests.Count);
    }

    [Fact]
    public async Task Secret_env_names_the_variable_holding_the_secret()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();
        File.WriteAllText(Path.Combine(world.WorkingDir, ".env"), $"OTHER_SECRET={Secret}\n");

        var (code, stdout, stderr) = await Programs.RunMlray("webhook", "register", config, "--url", ReceiverUrl, "--secret-env", "OTHER_SECRET");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(Secret, (string)JsonNode.Parse(Assert.Single(world.Mlflow.Requests, r => r.Method == "POST").Body)!["secret"]!);
        Assert.DoesNotContain(Secret, stdout + stderr);
    }

    [Fact]
    public async Task Test_reports_the_receivers_answer()
    {
        await using var world = await DeployWorld.StartAsync();
        using var receiver = new TinyReceiver(status: 200, body: "ok");
        var config = ConfigWithSecret(world);
        var (reg, out1, err1) = await Programs.RunMlray("webhook", "register", config, "--url", receiver.Url);
        Assert.True(reg == 0, $"exit {reg}\n{out1}\n{err1}");

        var (code, stdout, stderr) = await Programs.RunMlray("webhook", "test", config);

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Single(world.Mlflow.Requests, r => r.Method == "POST" && r.Path.EndsWith("/test", StringComparison.Ordinal));
        var delivery = Assert.Single(world.Mlflow.WebhookDeliveries, d => d.IsTest);
        Assert.Equal("model_version.created", delivery.Event);
        Assert.NotNull(delivery.Signature);
        Assert.Contains("success: true", stdout);
        Assert.Contains("status:  200", stdout);
        Assert.Contains("body:    ok", stdout);
        Assert.DoesNotContain(Secret, stdout + stderr);

        receiver.Status = 401;
        var (failed, failedOut, _) = await Programs.RunMlray("webhook", "test", config);
        Assert.Equal(1, failed);
        Assert.Contains("success: false", failedOut);
        Assert.Contains("status:  401", failedOut);

        var (missing, _, missingErr) = await Programs.RunMlray("webhook", "test", config, "--name", "nope");
        Assert.Equal(3, missing);
        Assert.Contains("no webhook named 'nope'", missingErr);
    }

    /// <summary>A loopback HTTP endpoint that answers every request with a fixed status and body.</summary>
    internal sealed class TinyReceiver : IDisposable
    {
        private readonly System.Net.HttpListener _listener = new();
        private readonly string _body;

        public TinyReceiver(int status, string body)
        {
            Status = status;
            _body = body;
            var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            probe.Start();
            var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/webhooks/mlflow";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _ = Task.Run(ServeAsync);
        }

        public string Url { get; }
        public volatile int Status;

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                System.Net.HttpListenerContext ctx;
                try { ctx = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                ctx.Response.StatusCode = Status;
                var bytes = System.Text.Encoding.UTF8.GetBytes(_body);
                await ctx.Response.OutputStream.WriteAsync(bytes);
                ctx.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }

    /// <summary>
    /// <c>mlray status</c> with no broker to read dead-letter queues from (a closed port): what it shows comes from Ray and the
    /// tags alone, whatever letters other tests left on the test broker's default vhost.
    /// </summary>
    private static Task<(int ExitCode, string Stdout, string Stderr)> Status(string config, params string[] more) =>
        Programs.RunProgram("mlray.dll", new Dictionary<string, string> { ["RABBITMQ_URI"] = "amqp://guest:guest@127.0.0.1:1/" }, ["status", config, .. more]);

    private static Dictionary<string, JsonNode> ModelRows(JsonNode doc) =>
        doc["models"]!.AsArray().ToDictionary(m => $"{(string?)m!["cluster"]}/{(string)m["registered_model"]!}", m => m!);

    [Fact]
    public async Task Status_shows_running_and_failed_models_and_apps_and_exits_1_for_the_arm_catboost_11_failure()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        await world.DeployAsync("ray-cluster-py39");
        await world.DeployAsync("ray-cluster-py312");
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await Status(config, "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var doc = JsonNode.Parse(stdout)!;
        var apps = doc["clusters"]!.AsArray()
            .SelectMany(c => c!["apps"]!.AsArray().Select(a => (Cluster: (string)c["cluster"]!, App: a!)))
            .ToDictionary(x => (string)x.App["app"]!);
        Assert.Equal(3, apps.Count);
        Assert.Equal(("ray-cluster-py39", "RUNNING"), (apps["iris_classifier-py39-catboost12"].Cluster, (string)apps["iris_classifier-py39-catboost12"].App["ray_status"]!));
        Assert.Equal(("ray-cluster-py312", "RUNNING"), (apps["iris_classifier-py312-catboost12"].Cluster, (string)apps["iris_classifier-py312-catboost12"].App["ray_status"]!));
        var failed = apps["iris_classifier-py39-catboost11"].App;
        Assert.Equal("DEPLOY_FAILED", (string)failed["ray_status"]!);
        Assert.True((bool)failed["managed_by_mlray"]!);
        Assert.Equal("iris_classifier-py39-catboost11.staging", (string)failed["registered_model"]!);
        Assert.Equal("1", (string)failed["version"]!);
        Assert.Contains("No matching distribution found for catboost==1.1", (string)failed["summary"]!);
        var models = ModelRows(doc);
        Assert.Equal("FAILED", (string)models["ray-cluster-py39/iris_classifier-py39-catboost11.staging"]["status"]!);
        Assert.Equal("RUNNING", (string)models["ray-cluster-py39/iris_classifier-py39-catboost12.staging"]["status"]!);
        Assert.Equal("RUNNING", (string)models["ray-cluster-py312/iris_classifier-py312-catboost12.staging"]["status"]!);
        Assert.Equal((2, 1), ((int)doc["counts"]!["RUNNING"]!, (int)doc["counts"]!["FAILED"]!));

        var (textCode, text, _) = await Status(config);
        Assert.Equal(1, textCode);
        Assert.Contains("DEPLOY_FAILED", text);
        Assert.Contains("iris_classifier-py39-catboost11", text);
        Assert.Contains("RUNNING 2  ROLLING_OUT 0  DEPLOYING 0  FAILED 1", text);
        Assert.Contains("1 of 3 selected model(s) not RUNNING", text);
        Assert.DoesNotContain("every selected model is RUNNING", text);
    }

    [Fact]
    public async Task Status_exits_0_when_every_selected_model_runs_and_ignores_apps_it_does_not_manage()
    {
        await using var world = await DeployWorld.StartAsync();
        SeedModels.Register(world.Mlflow, SeedModels.All.Single(m => m.PythonVersion.StartsWith("3.12")));
        await world.DeployAsync("ray-cluster-py312");
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await Status(config, "--output", "json");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var doc = JsonNode.Parse(stdout)!;
        var clusters = doc["clusters"]!.AsArray();
        Assert.Empty(clusters.Single(c => (string)c!["cluster"]! == "ray-cluster-py39")!["apps"]!.AsArray());
        Assert.Single(clusters.Single(c => (string)c!["cluster"]! == "ray-cluster-py312")!["apps"]!.AsArray());
        Assert.Equal("RUNNING", (string)Assert.Single(doc["models"]!.AsArray())!["status"]!);
        var (_, text, _) = await Status(config);
        Assert.Contains("every selected model is RUNNING (1)", text);
    }

    [Fact]
    public async Task Status_with_no_apps_does_not_claim_everything_runs()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();
        var (emptyCode, empty, _) = await Status(config);
        Assert.Equal(0, emptyCode);
        Assert.Contains("no model is selected", empty);
        Assert.DoesNotContain("is RUNNING", empty);

        world.RegisterSeed();   // selected, never deployed
        var (code, stdout, stderr) = await Status(config, "--output", "json");
        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(3, (int)JsonNode.Parse(stdout)!["counts"]!["NOT DEPLOYED"]!);
    }

    [Fact]
    public async Task Status_shows_a_dead_lettered_model_and_exits_1()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        await world.DeployAsync("ray-cluster-py312");
        // What a worker leaves on a version it gave up on: the attempt tag naming the dead letter, FAILED with its message.
        const string arm = "iris_classifier-py39-catboost11.staging";
        world.Mlflow.SetModelVersionTag(arm, "1", "mlray.ray-cluster-py39.attempt", "{\"spec\":\"0\",\"attempts\":2,\"dead_letter\":\"0123abcd\"}");
        world.Mlflow.SetModelVersionTag(arm, "1", "mlray.ray-cluster-py39.status", "FAILED");
        world.Mlflow.SetModelVersionTag(arm, "1", "mlray.ray-cluster-py39.message", "failed 2 of 2 attempts; dead-lettered: No matching distribution found for catboost==1.1");
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await Status(config, "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var row = ModelRows(JsonNode.Parse(stdout)!)["ray-cluster-py39/" + arm];
        Assert.Equal("DEAD-LETTERED", (string)row["status"]!);
        Assert.Contains("No matching distribution found for catboost==1.1", (string)row["detail"]!);
        var (_, text, _) = await Status(config);
        Assert.Contains("DEAD-LETTERED 1", text);
    }

    [Fact]
    public async Task An_unreachable_cluster_is_a_row_with_the_error_and_exit_3()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        await world.DeployAsync("ray-cluster-py312");
        var config = world.WriteConfigFile();
        await world.Ray39.DisposeAsync(); // the py39 dashboard goes away

        var (code, stdout, stderr) = await Status(config, "--output", "json");

        Assert.True(code == 3, $"exit {code}\n{stdout}\n{stderr}");
        var clusters = JsonNode.Parse(stdout)!["clusters"]!.AsArray();
        var down = clusters.Single(c => (string)c!["cluster"]! == "ray-cluster-py39")!;
        Assert.False((bool)down["reachable"]!);
        Assert.StartsWith("Ray dashboard of ray-cluster-py39 (ray_clusters[0].dashboard_address = ", (string?)down["error"]);
        Assert.EndsWith("): connection refused", (string?)down["error"]);
        Assert.Equal("RUNNING", (string)clusters.Single(c => (string)c!["cluster"]! == "ray-cluster-py312")!["apps"]![0]!["ray_status"]!);

        var (textCode, text, _) = await Status(config);
        Assert.Equal(3, textCode);
        Assert.Contains("UNREACHABLE", text);
        Assert.Contains("ray-cluster-py39", text);
    }

    [Fact]
    public async Task Plan_with_nothing_running_names_both_services_and_their_config_keys_exit_3_and_json_is_json()
    {
        var dir = Directory.CreateTempSubdirectory("mlray-plan-down-").FullName;
        var config = Path.Combine(dir, "config.yml");
        // Port 9 (discard) on loopback: nothing listens, connections are refused at once.
        await File.WriteAllTextAsync(config, """
            mlflow:
              tracking_uri: http://127.0.0.1:9
            ray_clusters:
            - name: ray-cluster-py39
              python_version: '3.9'
              dashboard_address: http://127.0.0.1:19
            """);
        try
        {
            var (code, stdout, stderr) = await Programs.RunMlray("plan", config, "ray-cluster-py39");
            Assert.True(code == 3, $"exit {code}\n{stdout}\n{stderr}");
            Assert.Contains("error: MLflow tracking server (mlflow.tracking_uri = http://127.0.0.1:9/): connection refused", stderr);
            Assert.Contains("error: Ray dashboard of ray-cluster-py39 (ray_clusters[0].dashboard_address = http://127.0.0.1:19/): connection refused", stderr);

            var (jsonCode, json, _) = await Programs.RunMlray("plan", config, "ray-cluster-py39", "--output", "json");
            Assert.Equal(3, jsonCode);
            var error = JsonNode.Parse(json)!["error"]!;
            Assert.Equal(("service", 3), ((string)error["kind"]!, (int)error["exit_code"]!));
            Assert.Equal(["mlflow.tracking_uri", "ray_clusters[0].dashboard_address"],
                error["problems"]!.AsArray().Select(p => (string)p!["config_key"]!).Order().ToArray());

            var (argCode, argJson, _) = await Programs.RunMlray("plan", config, "--output", "json");   // the cluster argument is missing
            Assert.Equal(2, argCode);
            Assert.Equal("argument", (string)JsonNode.Parse(argJson)!["error"]!["kind"]!);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<JsonArray> ListWebhooks(DeployWorld world)
    {
        using var http = new HttpClient();
        var doc = JsonNode.Parse(await http.GetStringAsync(new Uri(world.Mlflow.BaseUri, "/api/2.0/mlflow/webhooks")))!;
        return doc["webhooks"]!.AsArray();
    }
}
