using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MLRay.Deploy;
using MLRay.Pipeline;
using MLRay.Pipeline.Routing;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Topology;
using MLRay.Serve;

namespace MLRay.Tests.Unit;

public class PipelineUnitTests
{
    private static readonly MLRayConfig Config = ConfigLoader.Load("""
        mlflow: {tracking_uri: 'http://mlflow:8080'}
        ray_clusters:
        - {name: py39, python_version: '3.9', dashboard_address: 'http://ray39:8265'}
        - {name: py312, python_version: '3.12.11', dashboard_address: 'http://ray312:8265', serve_address: 'http://serve312:9000'}
        """, new DictionaryEnvironment(new Dictionary<string, string>()));

    private static ModelCandidate Candidate(string? python, bool nothing = false, string? problem = null, bool disabled = false) => new()
    {
        RegisteredModel = "m.staging",
        Version = new MLRay.Registry.ModelVersion { Name = "m.staging", Version = "4" },
        Environment = python is null ? null : new ModelEnvironment(PythonVersionSpec.Parse(python), "python_env.yaml", []),
        NothingToServe = nothing,
        Problem = problem,
        Tags = disabled ? new TagParseResult(null, true, []) : null,
    };

    public static TheoryData<string?, bool, string?, bool, string> Routes => new()
    {
        { "3.9.22", false, null, false, "to:3.9.22" },
        { "3.12.11", false, null, false, "to:3.12.11" },
        { "3.12.3", false, null, false, "parked:no Ray cluster for Python 3.12.3" },
        { "3.10.4", false, null, false, "parked:no Ray cluster for Python 3.10.4" },
        { null, true, "no READY version", false, "to:all" },
        { "3.9.22", false, null, true, "to:all" },
        { null, false, "model 'm.staging' version 4: python_env.yaml: not valid YAML", false, "parked:python_env.yaml: not valid YAML" },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public void Router_routes_by_python_version(string? python, bool nothing, string? problem, bool disabled, string expected)
    {
        var decision = RegistryChangedConsumer.Route(Candidate(python, nothing, problem, disabled), Config);
        var text = decision switch
        {
            RouteDecision.ToClusters to => "to:" + to.RoutingKey,
            RouteDecision.Unroutable parked => "parked:" + parked.Reason,
            _ => "?",
        };
        if (expected.StartsWith("parked:")) Assert.Contains(expected["parked:".Length..], text);
        else Assert.Equal(expected, text);
    }

    public static TheoryData<string, string, bool> Bindings => new()
    {
        // cluster spec, routing key, delivered (mirrors RabbitMQ topic matching of the binding keys)
        { "3.9", "3.9.22", true },
        { "3.9", "3.9", true },
        { "3.9", "3.12.11", false },
        { "3.12.11", "3.12.11", true },
        { "3.12.11", "3.12.3", false },
        { "3.9", "all", true },
    };

    [Theory]
    [MemberData(nameof(Bindings))]
    public void Binding_keys_match_what_the_router_decides(string cluster, string routingKey, bool delivered)
    {
        var spec = PythonVersionSpec.Parse(cluster);
        var binding = PipelineTopology.BindingKey(spec);
        var topicMatch = routingKey == PipelineTopology.BroadcastKey || TopicMatches(binding, routingKey);
        Assert.Equal(delivered, topicMatch);
        var config = new RayClusterConfig { Name = "c", PythonVersion = spec, DashboardAddress = new Uri("http://r"), MlflowTrackingUri = new Uri("http://m") };
        Assert.Equal(delivered, DirectClusterDispatcher.Matches(config, routingKey));
    }

    /// <summary>RabbitMQ topic semantics: '*' one word, '#' zero or more words.</summary>
    private static bool TopicMatches(string binding, string key)
    {
        static bool Match(string[] b, int i, string[] k, int j)
        {
            if (i == b.Length) return j == k.Length;
            if (b[i] == "#") return Enumerable.Range(j, k.Length - j + 1).Any(n => Match(b, i + 1, k, n));
            return j < k.Length && (b[i] == "*" || b[i] == k[j]) && Match(b, i + 1, k, j + 1);
        }
        return Match(binding.Split('.'), 0, key.Split('.'), 0);
    }

    [Theory]
    [InlineData("amqp://guest:guest@127.0.0.1:5672/", "127.0.0.1", 5672, "/", "guest", "guest")]
    [InlineData("amqp://u:p%40ss@broker/mlray-test", "broker", 5672, "mlray-test", "u", "p@ss")]
    [InlineData("amqps://u:p@broker:5671/%2F", "broker", 5671, "/", "u", "p")]
    public void Broker_uris_parse(string uri, string host, int port, string vhost, string user, string password)
    {
        var e = RabbitMqEndpoint.Parse(new Uri(uri));
        Assert.Equal((host, port, vhost, user, password), (e.Host, e.Port, e.VirtualHost, e.Username, e.Password));
        Assert.DoesNotContain($":{password}@", e.ToString());
    }

    [Fact]
    public void Pipeline_settings_load_and_never_print_secrets()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllText(Path.Combine(dir, "secret"), "s3cret-hook\n");
        var config = ConfigLoader.Load($"""
            rabbitmq: {"{"}uri: 'amqp://mlray:pw-123@rabbit:5672/prod'{"}"}
            receiver: {"{"}webhook_secret_file: '{dir}/secret', resync_interval: 2m{"}"}
            mlflow: {"{"}tracking_uri: 'http://m:1'{"}"}
            ray_clusters: [{"{"}name: c, python_version: '3.9', dashboard_address: 'http://r:8265'{"}"}]
            """, new DictionaryEnvironment(new Dictionary<string, string>()));
        Assert.Equal("s3cret-hook", config.Pipeline.WebhookSecret);
        Assert.Equal(TimeSpan.FromMinutes(2), config.Pipeline.ResyncInterval);
        Assert.DoesNotContain("pw-123", config.Pipeline.ToString());
        Assert.DoesNotContain("s3cret", config.Pipeline.ToString());
        Assert.DoesNotContain("pw-123", config.Pipeline.RedactedRabbitMqUri);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Status_tags_follow_each_versions_decision()
    {
        var cluster = Config.FindCluster("py312")!;
        var models = new List<ModelOutcome>
        {
            new("ok.staging", "2", ModelOutcomeKind.Selected, "ok", "3.12.11", []),
            new("bad.staging", "1", ModelOutcomeKind.Selected, "bad", "3.12.11", []),
            new("slow.staging", "1", ModelOutcomeKind.Selected, "slow", "3.12.11", []),
            new("tags.staging", "3", ModelOutcomeKind.Invalid, null, "3.12.11", ["tag 'ray.num_replicas' = '0': must be at least 1"]),
            new("gone.staging", null, ModelOutcomeKind.NothingToServe, null, null, ["alias 'champion' is not set"]),
            new("other.staging", "1", ModelOutcomeKind.OtherCluster, null, "3.9.22", ["Python 3.9.22"]),
        };
        var config = new JsonObject { ["applications"] = new JsonArray(
            new JsonObject { ["name"] = "ok", ["route_prefix"] = "/ok" }) };
        var plan = new ServePlan(config, [
            new AppChange("ok", AppChangeKind.Updated, "ok.staging", "2", "1"),
            new AppChange("gone", AppChangeKind.Removed, "gone.staging", "5"),
            new AppChange("bad", AppChangeKind.Removed, "bad.staging", "1"), // a version that never ran, taken off after failing
        ]);
        var state = new AttemptState { Spec = "s", Attempts = 1 };
        AttemptDecision Decision(string model, string version, string app, AttemptPhase phase, string message, string? served = null) =>
            new(model, version, app, phase, message, state, false, null, null, served);
        var attempts = new AttemptPlan([], [
            Decision("ok.staging", "2", "ok", AttemptPhase.Running, ""),
            Decision("bad.staging", "1", "bad", AttemptPhase.WaitingToRetry,
                "attempt 1 of 3 failed; next attempt at 2026-12-02T10:00:00Z: Runtime env setup for app 'bad' failed:\nTraceback\n    ERROR: No matching distribution found for catboost==1.1\n"),
            Decision("slow.staging", "1", "slow", AttemptPhase.Deploying, "waiting for Ray"),
            Decision("tags.staging", "3", "tags", AttemptPhase.DeadLettered, "tag 'ray.num_replicas' = '0': must be at least 1", served: "2"),
        ], new HashSet<string>());
        var previous = new MLRay.Registry.ModelVersion { Name = "ok.staging", Version = "1", Tags = [new("mlray.py312.status", "RUNNING")] };
        var snapshot = new RegistrySnapshot([], new Dictionary<(string, string), MLRay.Registry.ModelVersion> { [("ok.staging", "1")] = previous });

        var tags = StatusTags.FromAttempts(new DesiredState(cluster, models, []), attempts, plan, snapshot).ToDictionary(t => (t.RegisteredModel, t.Version));

        Assert.Equal(("RUNNING", "http://serve312:9000/ok"), (tags[("ok.staging", "2")].Status, tags[("ok.staging", "2")].Endpoint));
        Assert.Equal("UNDEPLOYED", tags[("ok.staging", "1")].Status);
        Assert.Equal("replaced by version 2 on py312", tags[("ok.staging", "1")].Message);
        Assert.Equal("FAILED", tags[("bad.staging", "1")].Status); // not UNDEPLOYED, though its app was removed
        Assert.Contains("No matching distribution found for catboost==1.1", tags[("bad.staging", "1")].Message);
        Assert.Contains("attempt 1 of 3 failed", tags[("bad.staging", "1")].Message);
        Assert.Equal("DEPLOYING", tags[("slow.staging", "1")].Status);
        Assert.Equal("FAILED", tags[("tags.staging", "3")].Status);
        Assert.Contains("ray.num_replicas", tags[("tags.staging", "3")].Message);
        Assert.Contains("version 2 serves on py312 meanwhile", tags[("tags.staging", "3")].Message);
        Assert.Equal("UNDEPLOYED", tags[("gone.staging", "5")].Status);
        Assert.Contains("alias 'champion' is not set", tags[("gone.staging", "5")].Message);
        Assert.False(tags.ContainsKey(("other.staging", "1")));
        Assert.Equal("mlray.py312.status", MLRayTags.Key("py312", "status"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_bus_never_posts_usage_telemetry_to_MassTransits_vendor(bool inMemory)
    {
        using var provider = new ServiceCollection()
            .AddMLRayBus(Config, new PipelineRoles { Router = true, Clusters = ["py39"], InMemory = inMemory })
            .BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<MassTransit.UsageTelemetryOptions>>();
        Assert.False(options.Value.Enabled);
    }
}
