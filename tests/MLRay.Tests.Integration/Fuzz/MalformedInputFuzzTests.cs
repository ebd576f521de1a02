using System.Diagnostics;
using System.Net;
using System.Text;
using MLRay.Emulators.Seed;
using static MLRay.Testing.InputMutations;

namespace MLRay.Tests.Fuzz;

/// <summary>
/// Mutated model files, config files, tags and webhook bodies (truncations, byte flips, stray YAML/JSON tokens, deep
/// nesting, huge values) through the parsers and the receiver: every outcome is either accepted or MLRay's own
/// error for that input, never another exception. Deterministic (fixed seed) and bounded in time.
/// </summary>
public sealed class MalformedInputFuzzTests
{
    private const int Seed = 20261202;
    private const int MutantsPerInput = 80;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    private static readonly SeedModel Model = SeedModels.All[0];

    private static Dictionary<string, string> ModelFiles() =>
        SeedModels.Files(Model, "mlflow-artifacts:/1/models/m-0/artifacts", "m-0", Model.Requirements).ToDictionary(f => f.File, f => f.Text);

    /// <summary>The files ModelEnvironmentReader sees when <paramref name="file"/> is the one it has to read.</summary>
    private static ModelEnvironmentFiles With(Dictionary<string, string> files, string file, string text) => file switch
    {
        "python_env.yaml" => new(text, files["conda.yaml"], files["MLmodel"], files["requirements.txt"]),
        "conda.yaml" => new(null, text, files["MLmodel"], null),   // Python and the pip list both from conda.yaml
        _ => new(null, null, text, files["requirements.txt"]),
    };

    [Theory]
    [InlineData("python_env.yaml")]
    [InlineData("conda.yaml")]
    [InlineData("MLmodel")]
    public void Mutated_model_files_are_read_or_rejected_naming_the_file(string file)
    {
        var files = ModelFiles();
        // Artifacts arrive as text (undecodable bytes become U+FFFD), as ArtifactReader reads them.
        AcceptedOrRejected<ModelEnvironmentException>(file, Mutants(Encoding.UTF8.GetBytes(files[file]), new Random(Seed + file.Length), MutantsPerInput, json: false),
            text => ModelEnvironmentReader.Read(With(files, file, text)),
            (e, kind) =>
            {
                Assert.True(e.File is "python_env.yaml" or "conda.yaml" or "MLmodel" or "requirements.txt", $"{kind}: {e.Message}");
                Assert.False(string.IsNullOrWhiteSpace(e.Problem), kind);
            });
    }

    /// <summary>
    /// Parses each mutant's text: it must be accepted or throw <typeparamref name="TError"/> (then checked), never
    /// anything else; both outcomes must occur, within the time budget.
    /// </summary>
    private static void AcceptedOrRejected<TError>(string what, IEnumerable<(string Kind, byte[] Bytes)> mutants, Action<string> parse,
        Action<TError, string> checkError) where TError : Exception
    {
        var clock = Stopwatch.StartNew();
        var (accepted, rejected) = (0, 0);
        foreach (var (kind, bytes) in mutants)
        {
            var text = Encoding.UTF8.GetString(bytes);
            try
            {
                parse(text);
                accepted++;
            }
            catch (TError e)
            {
                checkError(e, kind);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}, {kind} mutant ({bytes.Length} bytes): {e.GetType().Name}: {e.Message}\n{Preview(text)}");
            }
        }
        Assert.True(clock.Elapsed < Budget, $"took {clock.Elapsed}");
        Assert.True(accepted > 0 && rejected > 0, $"{what}: accepted {accepted}, rejected {rejected}: the mutants do not reach both outcomes");
    }

    private const string Config = """
        mlray:
          working_dir: .mlray
        mlflow:
          tracking_uri: http://127.0.0.1:5000
          model_name_suffix: .staging
        rabbitmq:
          uri: amqp://guest:guest@127.0.0.1:5672/
        receiver:
          allow_unsigned: true
          resync_interval: 5m
        ray_clusters:
        - name: ray-cluster-py39
          python_version: '3.9'
          dashboard_address: http://127.0.0.1:8265
          env_vars: {MLFLOW_HTTP_REQUEST_TIMEOUT: '60'}
          extra_pip: [pyarrow==19.0.1]
          deploy_timeout: 10m
        - name: ray-cluster-py312
          python_version: '3.12'
          dashboard_address: http://127.0.0.1:8266
          extra_pip:
          - pyarrow==19.0.1
        """;

    [Fact]
    public void Mutated_config_files_load_or_are_config_errors()
    {
        var env = new DictionaryEnvironment(new Dictionary<string, string>());
        AcceptedOrRejected<ConfigException>("config.yml", Mutants(Encoding.UTF8.GetBytes(Config), new Random(Seed), 3 * MutantsPerInput, json: false),
            text => ConfigLoader.Load(text, env),
            (e, kind) => Assert.False(string.IsNullOrWhiteSpace(e.Problem), kind));
    }

    [Fact]
    public void Mutated_tags_parse_to_a_spec_or_tag_errors()
    {
        var random = new Random(Seed);
        var tags = new Dictionary<string, string>(SeedModels.Tags("app"))
        {
            ["ray.ray_actor_options.runtime_env.env_vars"] = """{"ENV_VAR": "value", "OTHER": "x"}""",
            ["ray.max_ongoing_requests"] = "5",
        };
        var (valid, invalid) = (0, 0);
        foreach (var key in tags.Keys.ToList())
            foreach (var (kind, bytes) in Mutants(Encoding.UTF8.GetBytes(tags[key]), random, MutantsPerInput / 4, json: true))
            {
                var mutated = new Dictionary<string, string>(tags) { [key] = Encoding.UTF8.GetString(bytes) };
                var result = Record.Exception(() =>
                {
                    var parsed = DeploymentTags.Parse(mutated);
                    if (parsed.Spec is null) { Assert.NotEmpty(parsed.Errors); invalid++; }
                    else valid++;
                });
                Assert.True(result is null, $"{key}, {kind}: {result}");
            }
        Assert.True(valid > 0 && invalid > 0, $"valid {valid}, invalid {invalid}");
    }

    [Fact]
    public void Mutated_attempt_state_tags_are_read_or_ignored()
    {
        // mlray.<cluster>.attempt is MLRay's own tag, but anyone can edit it in the MLflow UI.
        var state = new MLRay.Deploy.AttemptState
        {
            Spec = "0123456789abcdef", Attempts = 2, StartedAt = DateTimeOffset.UnixEpoch, RetryAt = DateTimeOffset.UnixEpoch.AddMinutes(5),
            DeadLetter = "dl-1",
        }.ToJson();
        var (read, ignored) = (0, 0);
        foreach (var (kind, bytes) in Mutants(Encoding.UTF8.GetBytes(state), new Random(Seed), MutantsPerInput, json: true))
        {
            var result = Record.Exception(() =>
            {
                if (MLRay.Deploy.AttemptState.Parse(Encoding.UTF8.GetString(bytes)) is null) ignored++;
                else read++;
            });
            Assert.True(result is null, $"{kind}: {result}");
        }
        Assert.True(read > 0 && ignored > 0, $"read {read}, ignored {ignored}");
    }

    public static TheoryData<string> WebhookBodies => new()
    {
        MlflowTestVector.VectorBody,
        """{"entity": "model_version_alias", "action": "created", "timestamp": "2025-08-19T10:41:02.000001+00:00", "data": {"name": "fraud.staging", "alias": "champion", "version": "3"}}""",
        """{"entity": "model_version_tag", "action": "set", "timestamp": "2025-08-19T10:42:00.000001+00:00", "data": {"name": "fraud.staging", "version": "3", "key": "ray.num_replicas", "value": "2"}}""",
        """{"entity": "registered_model", "action": "created", "timestamp": "2025-08-19T10:42:00.000001+00:00", "data": {"name": "fraud.staging", "tags": {"mlflow.prompt.is_prompt": "false"}, "description": null}}""",
    };

    [Theory]
    [MemberData(nameof(WebhookBodies))]
    public async Task Mutated_signed_webhook_bodies_are_answered_with_a_specific_status_never_500(string body)
    {
        await using var host = await ReceiverHost.StartAsync();
        var random = new Random(Seed + body.Length);
        var clock = Stopwatch.StartNew();
        var outcomes = new Dictionary<HttpStatusCode, int>();
        foreach (var (kind, bytes) in Mutants(Encoding.UTF8.GetBytes(body), random, MutantsPerInput, json: true))
        {
            using var response = await host.PostAsync(bytes);
            var answer = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK or HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge,
                $"{kind} mutant ({bytes.Length} bytes): {(int)response.StatusCode} {answer}\n{Preview(Encoding.UTF8.GetString(bytes))}");
            // Every answer says what happened: queued, ignored (with the reason) or the error.
            var json = JsonNode.Parse(answer)!.AsObject();
            Assert.True(json.ContainsKey("queued") || json.ContainsKey("ignored") || json.ContainsKey("duplicate") || json["error"]?.GetValue<string>() is { Length: > 0 },
                $"{kind}: {answer}");
            outcomes[response.StatusCode] = outcomes.GetValueOrDefault(response.StatusCode) + 1;
        }
        Assert.True(clock.Elapsed < Budget, $"took {clock.Elapsed}");
        Assert.True(outcomes.GetValueOrDefault(HttpStatusCode.BadRequest) > 0 && outcomes.Keys.Any(s => s != HttpStatusCode.BadRequest),
            string.Join(", ", outcomes.Select(o => $"{(int)o.Key}: {o.Value}")));
        var logs = host.Logs.ToString();
        Assert.DoesNotContain("\"@l\":\"Error\"", logs);
        Assert.DoesNotContain("\"@l\":\"Fatal\"", logs);
    }

    private static string Preview(string text) => text.Length <= 300 ? text : text[..300] + $"… ({text.Length} chars)";
}
