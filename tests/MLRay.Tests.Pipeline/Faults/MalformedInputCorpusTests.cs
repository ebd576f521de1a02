using System.Net;
using System.Text;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Tests.Broker;
using MLRay.Tests.Integration;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

namespace MLRay.Tests.Faults;

/// <summary>
/// A corpus of malformed inputs — webhook bodies and headers, tags, <c>python_env.yaml</c>, <c>requirements.txt</c>,
/// config files, command lines — through the real receiver, a real <c>mlray-worker</c> process and the real CLI, with
/// every credential configured: each input gets its own error, nothing crashes, every model ends deployed, failed
/// with its reason, or parked with its reason, and no secret shows in any log line, answer, tag, broker message or
/// request to Ray (invariants 1 and 8).
/// </summary>
[Trait("Category", "Fault")]
[Collection("broker")]
public class MalformedInputCorpusTests(RabbitMqBroker broker, ITestOutputHelper output)
{
    private const string Py312 = "ray-cluster-py312", Py39 = "ray-cluster-py39";
    private const string MlflowUser = "mlray-svc", MlflowPassword = "mlflow-pw-7Qx2Vb9Lk", RayToken = "ray-token-Zt83Hq1Mw",
        S3KeyId = "AKIAFAULTSUITE00001", S3Key = "s3-secret-Pz61Kd0RtWq", IndexPassword = "index-pw-Hn42Ys8Ge", AmqpPassword = "amqp-pw-Rb57Tc3Nv";

    /// <summary>Every secret of the run, and the Basic credentials as they travel (base64 of user:password).</summary>
    private static readonly string[] Secrets =
    [
        PipelineWorld.Secret, MlflowPassword, Convert.ToBase64String(Encoding.UTF8.GetBytes($"{MlflowUser}:{MlflowPassword}")),
        RayToken, S3Key, IndexPassword, AmqpPassword,
    ];

    private static readonly Dictionary<string, string> SecretEnv = new()
    {
        ["MLFLOW_TRACKING_USERNAME"] = MlflowUser, ["MLFLOW_TRACKING_PASSWORD"] = MlflowPassword,
        ["RAY_TOKEN_PY312"] = RayToken, ["RAY_TOKEN_PY39"] = RayToken,
        ["AWS_ACCESS_KEY_ID"] = S3KeyId, ["AWS_SECRET_ACCESS_KEY"] = S3Key,
    };

    private static void AssertNoSecret(string where, string text)
    {
        foreach (var secret in Secrets)
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"a secret ({secret[..6]}…) in {where}: …{Around(text, secret)}…");
    }

    private static string Around(string text, string secret)
    {
        var at = text.IndexOf(secret, StringComparison.Ordinal);
        return text[Math.Max(0, at - 120)..Math.Min(text.Length, at + secret.Length + 40)];
    }

    /// <summary>A webhook case: how the request is built (from a fresh valid one), the status and the error it must get.</summary>
    private sealed record WebhookCase(string Name, Func<Uri, HttpRequestMessage> Request, HttpStatusCode Status, string Error);

    private static HttpRequestMessage Signed(Uri receiver, string body, Action<HttpRequestMessage>? change = null, long? timestamp = null, string? secret = null)
    {
        var request = PipelineWorld.SignedWebhook(receiver, body, timestamp: timestamp, secret: secret ?? PipelineWorld.Secret);
        change?.Invoke(request);
        return request;
    }

    /// <summary>Any bytes and timestamp, signed over exactly those (as MLflow signs) unless <paramref name="secret"/> is null.</summary>
    private static HttpRequestMessage Raw(Uri receiver, byte[] body, string? timestamp = null, string? secret = PipelineWorld.Secret)
    {
        var id = Guid.NewGuid().ToString();
        timestamp ??= DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString();
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(receiver, "/webhooks/mlflow")) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-MLflow-Delivery-Id", id);
        request.Headers.Add("X-MLflow-Timestamp", timestamp);
        if (secret is not null) request.Headers.Add("X-MLflow-Signature", MLRay.Receiver.Webhooks.MlflowSignature.Compute(secret, id, timestamp, body));
        return request;
    }

    private static string Valid(string name = "iris_classifier-py312-catboost12.staging") => PipelineWorld.ModelVersionCreated(name, "1");

    private static IEnumerable<WebhookCase> WebhookCases()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        yield return new("no delivery id", u => Signed(u, Valid(), r => r.Headers.Remove("X-MLflow-Delivery-Id")), HttpStatusCode.BadRequest, "missing or repeated X-MLflow-Delivery-Id header");
        yield return new("a second delivery id (sent joined to the first)", u => Signed(u, Valid(), r => r.Headers.Add("X-MLflow-Delivery-Id", "second")), HttpStatusCode.Unauthorized, "signature does not match");
        yield return new("delivery id of 200 characters", u => { var r = PipelineWorld.SignedWebhook(u, Valid(), deliveryId: new string('d', 200)); return r; }, HttpStatusCode.BadRequest, "X-MLflow-Delivery-Id is not a delivery id");
        yield return new("no timestamp", u => Signed(u, Valid(), r => r.Headers.Remove("X-MLflow-Timestamp")), HttpStatusCode.BadRequest, "missing or repeated X-MLflow-Timestamp header");
        yield return new("no signature", u => Signed(u, Valid(), r => r.Headers.Remove("X-MLflow-Signature")), HttpStatusCode.Unauthorized, "missing X-MLflow-Signature header");
        yield return new("a second signature (sent joined to the first)", u => Signed(u, Valid(), r => r.Headers.Add("X-MLflow-Signature", "v1,AAAA")), HttpStatusCode.Unauthorized, "is not 'v1,<base64 HMAC-SHA256>'");
        yield return new("v2 signature", u => Signed(u, Valid(), r => { r.Headers.Remove("X-MLflow-Signature"); r.Headers.Add("X-MLflow-Signature", "v2,c2lnbmF0dXJl"); }), HttpStatusCode.Unauthorized, "is not 'v1,<base64 HMAC-SHA256>'");
        yield return new("signed with another secret", u => Signed(u, Valid(), secret: "not-the-secret"), HttpStatusCode.Unauthorized, "signature does not match");
        yield return new("body changed after signing", u => Signed(u, Valid(), r => r.Content = new StringContent(Valid().Replace("\"1\"", "\"2\""), Encoding.UTF8, "application/json")), HttpStatusCode.Unauthorized, "signature does not match");
        yield return new("timestamp 10 minutes old", u => Signed(u, Valid(), timestamp: now - 600), HttpStatusCode.BadRequest, "older than 300 s");
        yield return new("timestamp 2 minutes ahead", u => Signed(u, Valid(), timestamp: now + 120), HttpStatusCode.BadRequest, "more than 60 s in the future");
        yield return new("timestamp not a number", u => Raw(u, Encoding.UTF8.GetBytes(Valid()), timestamp: "yesterday"), HttpStatusCode.BadRequest, "X-MLflow-Timestamp is not Unix seconds");
        yield return new("body over 1 MiB", u => Signed(u, "{\"x\": \"" + new string('x', 1_100_000) + "\"}"), HttpStatusCode.RequestEntityTooLarge, "body larger than");
        yield return new("body not JSON", u => Signed(u, "model registered!"), HttpStatusCode.BadRequest, "body is not valid JSON");
        yield return new("body a JSON array", u => Signed(u, "[1, 2]"), HttpStatusCode.BadRequest, "body is not a JSON object");
        yield return new("data.version an object", u => Signed(u, Valid().Replace("\"version\": \"1\"", "\"version\": {\"n\": 1}")), HttpStatusCode.BadRequest, "data.version must be a string or a whole number");
        yield return new("data.version a fraction", u => Signed(u, Valid().Replace("\"version\": \"1\"", "\"version\": 1.5")), HttpStatusCode.BadRequest, "not a fraction or an out-of-range number");
        yield return new("data.name a number", u => Signed(u, Valid().Replace("\"name\": \"iris_classifier-py312-catboost12.staging\"", "\"name\": 7")), HttpStatusCode.BadRequest, "data.name must be a string");
        yield return new("body not UTF-8", u => { var bytes = Encoding.UTF8.GetBytes(Valid()); bytes[20] = 0xff; return Raw(u, bytes); }, HttpStatusCode.BadRequest, "body is not valid UTF-8");
    }

    /// <summary>A model case: what is registered, and the reason it must end with (a FAILED tag and a letter, or a parked message).</summary>
    private sealed record ModelCase(string App, string Expect, bool Parked, IReadOnlyDictionary<string, string>? Tags = null,
        IReadOnlyDictionary<string, string?>? Files = null, string? Python = null);

    private static Dictionary<string, string> TagsWith(string app, string key, string? value)
    {
        var tags = new Dictionary<string, string>(SeedModels.Tags(app));
        if (value is null) tags.Remove(key); else tags[key] = value;
        return tags;
    }

    private static IEnumerable<ModelCase> ModelCases()
    {
        ModelCase Tag(string app, string key, string? value, string expect) => new(app, expect, Parked: false, Tags: TagsWith(app, key, value));
        yield return Tag("tag-replicas-word", "ray.num_replicas", "two", "tag 'ray.num_replicas' = 'two': must be a whole number");
        yield return Tag("tag-cpus-negative", "ray.ray_actor_options.num_cpus", "-1", "tag 'ray.ray_actor_options.num_cpus' = '-1': must be greater than 0");
        yield return Tag("tag-unknown-key", "ray.num_replica", "1", "tag 'ray.num_replica' = '1': unknown ray.* tag");
        yield return Tag("tag-env-not-json", "ray.ray_actor_options.runtime_env.env_vars", "{not json", "is not valid JSON");
        yield return Tag("tag-env-number", "ray.ray_actor_options.runtime_env.env_vars", "{\"A\": 1}", "value of 'A' must be a string");
        yield return Tag("tag-name-spaces", "ray.name", "bad name!", "must start with a letter or digit");
        yield return Tag("tag-route-no-slash", "ray.route_prefix", "no-slash", "must start with '/'");
        yield return Tag("tag-enabled-maybe", "ray.enabled", "maybe", "tag 'ray.enabled' = 'maybe': must be 'true' or 'false'");
        yield return Tag("tag-memory-missing", "ray.ray_actor_options.memory", null, "tag 'ray.ray_actor_options.memory': required");
        yield return new("env-not-yaml", "python_env.yaml: is not valid YAML", Parked: true, Files: new Dictionary<string, string?> { ["python_env.yaml"] = "python: [3.12\nbuild_dependencies: [pip\n" });
        yield return new("env-python-word", "python 'three' is not a Python version", Parked: true, Files: new Dictionary<string, string?> { ["python_env.yaml"] = "python: three\n" });
        yield return new("env-no-python", "python_env.yaml: has no 'python:' key", Parked: true, Files: new Dictionary<string, string?> { ["python_env.yaml"] = "build_dependencies: [pip]\n" });
        yield return new("env-a-list", "python_env.yaml: is not a YAML mapping", Parked: true, Files: new Dictionary<string, string?> { ["python_env.yaml"] = "- python: 3.12.11\n" });
        yield return new("env-py310", "no Ray cluster for Python 3.10.4", Parked: true, Python: "3.10.4");
        yield return new("reqs-missing", "requirements.txt: not found, and there is no conda.yaml", Parked: true,
            Files: new Dictionary<string, string?> { ["requirements.txt"] = null, ["conda.yaml"] = null });
    }

    [Fact]
    public async Task Malformed_webhooks_tags_and_model_files_each_get_their_own_error_lose_nothing_and_leak_no_secret()
    {
        await using var world = await PipelineWorld.StartAsync(broker, py39Extra: "auth_token_env: RAY_TOKEN_PY39", py312Extra: "auth_token_env: RAY_TOKEN_PY312",
            env: SecretEnv, mlflow: new MlflowEmulatorOptions { RequiredBasicUser = MlflowUser, RequiredBasicPassword = MlflowPassword });
        world.Emulators.Ray312.Options.AuthToken = RayToken;
        world.Emulators.Ray39.Options.AuthToken = RayToken;
        var receiverText = new StringWriter(); // read below; the synchronized wrapper's ToString() is not its text
        var receiverLog = TextWriter.Synchronized(receiverText);
        await world.StartReceiverAsync(log: receiverLog);
        using var worker = WorkerProcess.Start(world.ConfigPath, [Py312, Py39], router: true,
            environment: new Dictionary<string, string>(SecretEnv) { ["Serilog__MinimumLevel__Default"] = "Debug" });
        await worker.WaitReadyAsync();

        // Good models next to the bad ones: they deploy; one's requirements.txt names a private index with its password.
        var good = new Dictionary<string, string>
        {
            ["iris_classifier-py312-catboost12"] = SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]),
            ["private-index"] = SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0] with { AppName = "private-index" }, SeedModels.Tags("private-index"),
                $"--extra-index-url https://__token__:{IndexPassword}@pypi.internal.example/simple\nmlflow==3.1.0\ncatboost==1.2.8\n"),
        };
        var goodPy39 = SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[1]);
        var cases = ModelCases().ToList();
        foreach (var c in cases)
            SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0] with { AppName = c.App, PythonVersion = c.Python ?? SeedModels.All[0].PythonVersion },
                c.Tags ?? SeedModels.Tags(c.App), SeedModels.All[0].Requirements, c.Files);

        // The webhook corpus, straight at the receiver; then the fuzz suite's mutants of a signed body, re-signed.
        using var http = new HttpClient();
        var answers = new List<string>();
        var webhookCases = WebhookCases().ToList();
        foreach (var c in webhookCases)
        {
            using var response = await http.SendAsync(c.Request(world.ReceiverUri!));
            var answer = await response.Content.ReadAsStringAsync();
            answers.Add(answer);
            Assert.True(response.StatusCode == c.Status, $"{c.Name}: {(int)response.StatusCode} {answer}");
            Assert.True(JsonNode.Parse(answer)!["error"]!.GetValue<string>().Contains(c.Error), $"{c.Name}: {answer}");
        }
        var mutants = InputMutations.Mutants(Encoding.UTF8.GetBytes(Valid()), new Random(11), 40, json: true).ToList();
        foreach (var (kind, bytes) in mutants)
        {
            using var response = await http.SendAsync(Raw(world.ReceiverUri!, bytes));
            var answer = await response.Content.ReadAsStringAsync();
            answers.Add(answer);
            Assert.True((int)response.StatusCode is 200 or 202 or 400 or 413, $"{kind} mutant: {(int)response.StatusCode} {answer}");
        }

        // Nothing lost: the good models run, each bad one ends with its own reason.
        await FaultSuite.AssertExactStateAsync(world, world.Emulators.Ray312, Py312, good, seconds: 90, rayToken: RayToken);
        await FaultSuite.AssertExactStateAsync(world, world.Emulators.Ray39, Py39, new Dictionary<string, string> { [SeedModels.All[1].AppName] = goodPy39 }, seconds: 60, rayToken: RayToken);
        var vhost = world.BrokerUri.ToString();
        List<string> letters = [], parked = [];
        var tagCases = cases.Where(c => !c.Parked).ToList();
        var parkedCases = cases.Where(c => c.Parked).ToList();
        await PipelineWorld.WaitUntil(() =>
        {
            letters = broker.PeekMessagesAsync(vhost, PipelineTopology.DeadLetterQueue(Py312), 100).GetAwaiter().GetResult().Select(m => m.Body).ToList();
            parked = broker.PeekMessagesAsync(vhost, PipelineTopology.UnroutableQueue, 100).GetAwaiter().GetResult()
                .Select(m => m.Body + " " + string.Join(" ", m.Headers.Values)).ToList();
            return tagCases.All(c => letters.Any(l => l.Contains(c.App + ".staging"))) && parkedCases.All(c => parked.Any(p => p.Contains(c.App + ".staging")));
        }, seconds: 60, what: "a letter for every bad tag and a parked message for every unreadable environment");
        foreach (var c in tagCases)
        {
            var tags = world.Emulators.Mlflow.GetModelVersionTags(c.App + ".staging", "1");
            Assert.True(tags.GetValueOrDefault($"mlray.{Py312}.status") == "FAILED", $"{c.App}: {tags.GetValueOrDefault($"mlray.{Py312}.status")}");
            Assert.True(tags[$"mlray.{Py312}.message"].Contains(c.Expect), $"{c.App}: {tags[$"mlray.{Py312}.message"]}");
            var letter = Assert.Single(letters, l => l.Contains(c.App + ".staging"));
            Assert.Contains("permanent", letter);
        }
        // Parked once per hint (its webhooks and the start-up resync), each time with the same reason; nothing else parked.
        foreach (var c in parkedCases)
            foreach (var p in parked.Where(p => p.Contains(c.App + ".staging")))
                Assert.True(p.Contains(c.Expect), $"{c.App}: {p}");
        Assert.All(parked, p => Assert.Contains(parkedCases, c => p.Contains(c.App + ".staging")));
        Assert.DoesNotContain(world.Emulators.Ray312.PutBodies, b => cases.Any(c => b.Contains($"\"{c.App}\"")));

        // No crash: the worker runs, no message went to an error queue, nothing logged at Fatal by the receiver or the worker.
        Assert.False(worker.Process.HasExited, worker.Output);
        await FaultSuite.AssertErrorQueuesEmptyAsync(broker, vhost);
        string receiverLines;
        lock (receiverLog) receiverLines = receiverText.ToString();
        Assert.Contains("Receiver listening", receiverLines); // the log really is read
        Assert.DoesNotContain("\"@l\":\"Fatal\"", receiverLines);
        Assert.DoesNotContain("\"@l\":\"Fatal\"", worker.Output);

        // No secret anywhere MLRay writes: logs, answers, tags, every message in every queue, what Ray received and shows.
        AssertNoSecret("the receiver's log", receiverLines);
        AssertNoSecret("the worker's log", worker.Output);
        AssertNoSecret("a webhook answer", string.Join("\n", answers));
        foreach (var app in good.Keys.Concat(cases.Select(c => c.App)).Append(SeedModels.All[1].AppName))
            foreach (var (key, value) in world.Emulators.Mlflow.GetModelVersionTags(app + ".staging", "1"))
                AssertNoSecret($"tag {key} of {app}", value);
        var messages = 0;
        foreach (var queue in await broker.QueueNamesAsync(vhost))
        {
            IReadOnlyList<(string Body, IReadOnlyDictionary<string, string> Headers)> peeked;
            // A single-active-consumer queue cannot be browsed while its consumer is attached; its worker has drained it by now.
            try { peeked = await broker.PeekMessagesAsync(vhost, queue, 1000); }
            catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.BadRequest && e.Message.Contains("single active consumer")) { continue; }
            // An exclusive queue (a receiver's activity feed, bound to its own connection) cannot be browsed by anyone else;
            // what it carries are the worker's decisions, whose texts are the tags and log lines checked above.
            catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.BadRequest && e.Message.Contains("RESOURCE_LOCKED")) { continue; }
            foreach (var (body, headers) in peeked)
            {
                messages++;
                AssertNoSecret($"a message in {queue}", body + string.Join("\n", headers.Select(h => h.Key + "=" + h.Value)));
            }
        }
        foreach (var ray in new[] { world.Emulators.Ray312, world.Emulators.Ray39 })
        {
            foreach (var request in ray.Requests) AssertNoSecret($"a {request.Method} body to Ray", request.Body);
            using var client = new MLRay.Serve.RayDashboardClient(ray.BaseUri, TestHttp.Factory, RayToken);
            AssertNoSecret("Ray's applications", (await client.GetApplicationsAsync()).Raw.ToJsonString());
        }
        Assert.DoesNotContain(world.Emulators.Ray312.PutBodies, b => b.Contains("extra-index-url"));

        var logLines = receiverLines.Split('\n').Length + worker.Output.Split('\n').Length;
        FaultSuite.Report(output, "malformed inputs (pipeline)", $"{webhookCases.Count} webhook cases + {mutants.Count} mutated webhooks, {tagCases.Count} tag cases " +
            $"(FAILED + permanent letter each), {parkedCases.Count} python_env.yaml/requirements.txt cases (parked with the reason), 1 requirements.txt with a " +
            $"private index password (line dropped, model RUNNING); 0 crashes; {Secrets.Length} secrets absent from {logLines} log lines, {messages} broker messages, " +
            $"{world.Emulators.Ray312.Requests.Count + world.Emulators.Ray39.Requests.Count} Ray requests and every tag");
    }

    /// <summary>A config or command-line case: the program, its arguments (<c>{config}</c> is a file of <see cref="Yaml"/>), exit 2 and the words of its error.</summary>
    private sealed record CommandCase(string Name, string Program, string[] Args, string Expect, string? Yaml = null, bool ConfigFile = false);

    private const string BaseConfig = """
        mlflow:
          tracking_uri: http://127.0.0.1:9
        rabbitmq:
          uri: amqp://127.0.0.1:9/
        receiver:
          allow_unsigned: true
        ray_clusters:
        - name: ray-cluster-py312
          python_version: '3.12'
          dashboard_address: http://127.0.0.1:9
        """;

    private static IEnumerable<CommandCase> CommandCases()
    {
        CommandCase Config(string name, string yaml, string expect, string program = "mlray.dll", params string[] args) =>
            new(name, program, args.Length > 0 ? args : ["plan", "{config}", "ray-cluster-py312"], expect, yaml, ConfigFile: true);
        yield return Config("python_version a word", BaseConfig.Replace("'3.12'", "'three'"), ".yml:9:3: ray_clusters[0].python_version: 'three' is not a Python version");
        yield return Config("misspelt key", BaseConfig.Replace("dashboard_address", "dashbaord_address"), "dashbaord_address");
        yield return Config("YAML that does not parse", BaseConfig + "\n  - [unclosed\n", ".yml:11:3: while parsing a block mapping, did not find expected key (likely cause: this line's indentation does not match the lines above it)");
        yield return Config("tracking_uri with a password, and not http", BaseConfig.Replace("http://127.0.0.1:9\n", $"htp://svc:{MlflowPassword}@mlflow.internal\n"), ".yml:2:3: mlflow.tracking_uri");
        yield return Config("rabbitmq.uri with a password, and not amqp", BaseConfig.Replace("amqp://127.0.0.1:9/", $"amqq://guest:{AmqpPassword}@127.0.0.1/"), "rabbitmq.uri: not an amqp:// or amqps:// URI");
        yield return Config("the Ray token itself as auth_token_env", BaseConfig + $"\n  auth_token_env: {RayToken}\n", "is not an environment variable name");
        yield return Config("auth_token_env naming an unset variable", BaseConfig + "\n  auth_token_env: MLRAY_FAULTS_UNSET_TOKEN\n", "names MLRAY_FAULTS_UNSET_TOKEN, which is not set", "mlray.dll", "status", "{config}");
        yield return Config("retry delay not a duration", BaseConfig + "\nretry: {attempts: 2, delays: [soon]}\n", "retry.delays");
        yield return Config("webhook secret file missing", BaseConfig.Replace("allow_unsigned: true", "webhook_secret_file: /nonexistent/mlray-secret"), "receiver.webhook_secret_file", "mlray-receiver.dll", "--config", "{config}", "--urls", "http://127.0.0.1:0");
        yield return new("no arguments to deploy", "mlray.dll", ["deploy"], "argument error");
        yield return new("unknown command", "mlray.dll", ["frobnicate"], "argument error");
        yield return new("--output xml", "mlray.dll", ["deploy", "{config}", "ray-cluster-py312", "--output", "xml"], "argument error", BaseConfig);
        yield return new("--timeout not a duration", "mlray.dll", ["deploy", "{config}", "ray-cluster-py312", "--timeout", "forever"], "argument error: --timeout: 'forever' is not a duration", BaseConfig);
        yield return new("webhook register without --url", "mlray.dll", ["webhook", "register", "{config}"], "argument error", BaseConfig);
        yield return new("worker --cluster without a name", WorkerProcess.Dll, ["--cluster"], "argument error");
    }

    [Fact]
    public async Task Malformed_config_files_and_command_lines_exit_2_with_their_own_error_and_leak_no_secret()
    {
        var dir = Directory.CreateTempSubdirectory("mlray-corpus-").FullName;
        var environment = new Dictionary<string, string>(SecretEnv) { ["MLRAY_WEBHOOK_SECRET"] = PipelineWorld.Secret };
        try
        {
            var cases = CommandCases().ToList();
            var results = await Task.WhenAll(cases.Select(async (c, i) =>
            {
                var config = Path.Combine(dir, $"config-{i}.yml");
                if (c.Yaml is not null) await File.WriteAllTextAsync(config, c.Yaml);
                return await Programs.RunProgram(c.Program, environment, [.. c.Args.Select(a => a.Replace("{config}", config))]);
            }));
            foreach (var (c, (code, stdout, stderr)) in cases.Zip(results))
            {
                Assert.True(code == 2, $"{c.Name}: exit {code}\n{stdout}\n{stderr}");
                Assert.True((stdout + stderr).Contains(c.Expect), $"{c.Name}: expected '{c.Expect}' in\n{stdout}\n{stderr}");
                Assert.DoesNotContain("Unhandled exception", stdout + stderr);
                AssertNoSecret($"the output of {c.Name}", stdout + stderr);
            }
            FaultSuite.Report(output, "malformed inputs (config, command lines)",
                $"{cases.Count} cases ({cases.Count(c => c.ConfigFile)} config files, {cases.Count(c => !c.ConfigFile)} command lines): each exit 2 with its own error, no secret in any output");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
