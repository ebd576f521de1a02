namespace MLRay.Tests.Unit;

/// <summary>The cluster keys of verified serving and the ray.* tags that override them.</summary>
public class ServingConfigTests
{
    private static readonly DictionaryEnvironment Env = new(new Dictionary<string, string> { ["MLFLOW_TRACKING_URI"] = "http://localhost:8080" });

    private static MLRayConfig Load(string clusterKeys, string mlflow = "") => ConfigLoader.Load($"""
        {mlflow}
        ray_clusters:
        - name: c
          python_version: '3.9'
          dashboard_address: http://localhost:8265
        {clusterKeys}
        """, Env);

    [Fact]
    public void Defaults_are_when_example_30_s_direct_two_gateway_replicas_and_10_50_100_every_2_minutes()
    {
        var s = Load("").Clusters[0].Serving;
        Assert.Equal((SmokeTestMode.WhenExample, TimeSpan.FromSeconds(30), TrafficMode.Direct), (s.SmokeTest, s.SmokeTestTimeout, s.Traffic));
        Assert.Equal(("/", 2, 0.1, TimeSpan.FromMinutes(5)), (s.Gateway.RoutePrefix, s.Gateway.Replicas, s.Gateway.NumCpus, s.Gateway.StatsWindow));
        Assert.Equal([10, 50, 100], s.Rollout.Steps);
        Assert.Equal((TimeSpan.FromMinutes(2), 20, 0.01, NoTrafficAction.Promote), (s.Rollout.Interval, s.Rollout.MinRequests, s.Rollout.MaxErrorRate, s.Rollout.OnNoTraffic));
    }

    [Fact]
    public void Every_key_is_read()
    {
        var config = Load("""
              smoke_test: required
              smoke_test_timeout: 5s
              traffic: gateway
              gateway:
                route_prefix: /models
                replicas: 3
                num_cpus: 0.5
                stats_window: 1m
              rollout:
                steps: [25, 100]
                interval: 30s
                min_requests: 5
                max_error_rate: 2%
                max_wait: 3m
                on_no_traffic: fail
            """, "mlflow:\n  challenger_alias: challenger\n");
        var s = config.Clusters[0].Serving;
        Assert.Equal((SmokeTestMode.Required, TimeSpan.FromSeconds(5), TrafficMode.Gateway), (s.SmokeTest, s.SmokeTestTimeout, s.Traffic));
        Assert.Equal(("/models", 3, 0.5, TimeSpan.FromMinutes(1)), (s.Gateway.RoutePrefix, s.Gateway.Replicas, s.Gateway.NumCpus, s.Gateway.StatsWindow));
        Assert.Equal([25, 100], s.Rollout.Steps);
        Assert.Equal((TimeSpan.FromSeconds(30), 5, 0.02, TimeSpan.FromMinutes(3), NoTrafficAction.Fail),
            (s.Rollout.Interval, s.Rollout.MinRequests, s.Rollout.MaxErrorRate, s.Rollout.MaxWait, s.Rollout.OnNoTraffic));
        Assert.Equal("challenger", config.Mlflow.ChallengerAlias);
    }

    [Theory]
    [InlineData("  smoke_test: sometimes", "ray_clusters[0].smoke_test", "not when-example, required or off")]
    [InlineData("  traffic: canary", "ray_clusters[0].traffic", "not direct or gateway")]
    [InlineData("  rollout:\n    steps: [50, 10]", "ray_clusters[0].rollout.steps", "rising whole percentages")]
    [InlineData("  rollout:\n    steps: [10, 50]", "ray_clusters[0].rollout.steps", "ending at 100")]
    [InlineData("  rollout:\n    max_error_rate: lots", "ray_clusters[0].rollout.max_error_rate", "'lots' is not a percentage")]
    [InlineData("  gateway:\n    route_prefix: models", "ray_clusters[0].gateway.route_prefix", "starts with '/'")]
    public void A_bad_value_names_its_key(string keys, string key, string problem)
    {
        var e = Assert.Throws<ConfigException>(() => Load(keys));
        Assert.Contains(key, e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData("ray.rollout.steps", "10,50,100", null)]
    [InlineData("ray.rollout.steps", "", null)]
    [InlineData("ray.rollout.steps", "50,10", "rising whole percentages")]
    [InlineData("ray.rollout.interval", "30s", null)]
    [InlineData("ray.rollout.interval", "soon", "is not a duration")]
    [InlineData("ray.challenger.weight", "20", null)]
    [InlineData("ray.challenger.weight", "120", "percentage from 0 to 100")]
    [InlineData("ray.challenger.shadow", "0.25", null)]
    [InlineData("ray.challenger.shadow", "1.5", "fraction from 0 to 1")]
    [InlineData("ray.smoke_test.input", "{\"inputs\": [1]}", null)]
    [InlineData("ray.smoke_test.input", "[1, 2]", "must be a JSON object")]
    [InlineData("ray.smoke_test.input", "{oops", "is not JSON")]
    [InlineData("ray.name", "mlray-gateway", "reserved for MLRay's gateway app")]
    public void Serving_tags_are_checked_naming_the_tag_and_value(string tag, string value, string? problem)
    {
        var tags = new Dictionary<string, string> { ["ray.name"] = "m", ["ray.num_replicas"] = "1", ["ray.ray_actor_options.num_cpus"] = "1", ["ray.ray_actor_options.memory"] = "1", [tag] = value };
        var parsed = DeploymentTags.Parse(tags);
        if (problem is null) Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors));
        else Assert.Contains(parsed.Errors, e => e.Tag == tag && e.Value == value && e.Problem.Contains(problem));
    }

    [Fact]
    public void Tags_override_the_rollout_and_give_the_smoke_test_body()
    {
        var spec = DeploymentTags.Parse(new Dictionary<string, string>
        {
            ["ray.name"] = "m", ["ray.num_replicas"] = "1", ["ray.ray_actor_options.num_cpus"] = "1", ["ray.ray_actor_options.memory"] = "1",
            ["ray.rollout.steps"] = "20,100", ["ray.rollout.interval"] = "45s", ["ray.smoke_test.input"] = "{\"inputs\": [[1, 2]]}",
        }).Spec!;
        Assert.Equal([20, 100], spec.RolloutSteps);
        Assert.Equal(TimeSpan.FromSeconds(45), spec.RolloutInterval);
        Assert.Equal("{\"inputs\": [[1, 2]]}", spec.SmokeTestInput);
    }
}
