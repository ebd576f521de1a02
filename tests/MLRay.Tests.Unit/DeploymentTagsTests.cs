namespace MLRay.Tests.Unit;

public class DeploymentTagsTests
{
    private static Dictionary<string, string> Seed(params (string Key, string? Value)[] changes)
    {
        var tags = new Dictionary<string, string>
        {
            ["ray.name"] = "iris_classifier-py39-catboost11",
            ["ray.num_replicas"] = "1",
            ["ray.ray_actor_options.num_cpus"] = "0.5",
            ["ray.ray_actor_options.memory"] = "1",
        };
        foreach (var (k, v) in changes)
            if (v is null) tags.Remove(k); else tags[k] = v;
        return tags;
    }

    [Fact]
    public void Seed_tags_give_a_spec_with_memory_in_bytes()
    {
        var result = DeploymentTags.Parse(Seed());
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        var spec = result.Spec!;
        Assert.Equal("iris_classifier-py39-catboost11", spec.Name);
        Assert.Equal("/iris_classifier-py39-catboost11", spec.RoutePrefix);
        Assert.Equal(1, spec.NumReplicas);
        Assert.Equal(0.5, spec.NumCpus);
        Assert.Equal(1073741824L, spec.MemoryBytes);
    }

    public static TheoryData<string, string?, string> InvalidTags => new()
    {
        // tag, value (null = removed), expected words in the problem
        { "ray.name", null, "required" },
        { "ray.name", " ", "must not be empty" },
        { "ray.name", "has space", "letters, digits" },
        { "ray.num_replicas", null, "required" },
        { "ray.num_replicas", "0", "at least 1" },
        { "ray.num_replicas", "1.5", "whole number" },
        { "ray.num_replicas", "two", "whole number" },
        { "ray.ray_actor_options.num_cpus", null, "required" },
        { "ray.ray_actor_options.num_cpus", "0", "greater than 0" },
        { "ray.ray_actor_options.num_cpus", "half", "must be a number" },
        { "ray.ray_actor_options.memory", null, "required" },
        { "ray.ray_actor_options.memory", "-1", "greater than 0" },
        { "ray.ray_actor_options.memory", "1GB", "must be a number" },
        { "ray.ray_actor_options.num_gpus", "-1", "must not be negative" },
        { "ray.ray_actor_options.num_gpus", "x", "must be a number" },
        { "ray.ray_actor_options.runtime_env.env_vars", "{not json", "not valid JSON" },
        { "ray.ray_actor_options.runtime_env.env_vars", "[1,2]", "JSON object" },
        { "ray.ray_actor_options.runtime_env.env_vars", "{\"A\": 1}", "must be a string" },
        { "ray.max_ongoing_requests", "0", "at least 1" },
        { "ray.user_config.max_batch_size", "big", "whole number" },
        { "ray.user_config.batch_wait_timeout_s", "-0.5", "must not be negative" },
        { "ray.user_config.batch_wait_timeout_s", "0.1", "no effect without ray.user_config.max_batch_size" },
        { "ray.route_prefix", "no-slash", "must start with '/'" },
        { "ray.route_prefix", "/trailing/", "not end with '/'" },
        { "ray.enabled", "maybe", "'true' or 'false'" },
        { "ray.num_cpus", "1", "unknown ray.* tag" },
        { "ray.ray_actor_options.memory_gb", "1", "unknown ray.* tag" },
    };

    [Theory]
    [MemberData(nameof(InvalidTags))]
    public void Each_invalid_tag_is_named_with_its_value(string tag, string? value, string problem)
    {
        var result = DeploymentTags.Parse(Seed((tag, value)));
        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors, e => e.Tag == tag);
        Assert.Contains(problem, error.Problem);
        Assert.Equal(value, error.Value);
        if (value is not null) Assert.Contains($"'{value}'", error.ToString());
    }

    public static TheoryData<string, string?, string> InvalidAutoscaling => new()
    {
        { "ray.autoscaling_config.min_replicas", "-1", "at least 0" },
        { "ray.autoscaling_config.max_replicas", "0", "at least 1" },
        { "ray.autoscaling_config.target_ongoing_requests", "0", "greater than 0" },
    };

    [Theory]
    [MemberData(nameof(InvalidAutoscaling))]
    public void Invalid_autoscaling_tags_are_named(string tag, string? value, string problem)
    {
        var result = DeploymentTags.Parse(Seed(("ray.num_replicas", null), (tag, value)));
        Assert.Contains(result.Errors, e => e.Tag == tag && e.Value == value && e.Problem.Contains(problem));
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var result = DeploymentTags.Parse(Seed(("ray.num_replicas", "0"), ("ray.ray_actor_options.memory", "x"), ("ray.foo", "1")));
        Assert.Equal(["ray.foo", "ray.num_replicas", "ray.ray_actor_options.memory"], result.Errors.Select(e => e.Tag).Order());
    }

    [Fact]
    public void Autoscaling_replaces_num_replicas_and_may_not_be_combined_with_it()
    {
        var auto = DeploymentTags.Parse(Seed(("ray.num_replicas", null),
            ("ray.autoscaling_config.min_replicas", "0"), ("ray.autoscaling_config.max_replicas", "4"),
            ("ray.autoscaling_config.target_ongoing_requests", "2")));
        Assert.True(auto.IsValid, string.Join("; ", auto.Errors));
        Assert.Equal((0, 4, 2.0), (auto.Spec!.MinReplicas, auto.Spec.MaxReplicas, auto.Spec.TargetOngoingRequests));
        Assert.Null(auto.Spec.NumReplicas);

        var both = DeploymentTags.Parse(Seed(("ray.autoscaling_config.max_replicas", "4")));
        Assert.Contains(both.Errors, e => e.Tag == "ray.num_replicas" && e.Problem.Contains("cannot be combined"));

        var inverted = DeploymentTags.Parse(Seed(("ray.num_replicas", null),
            ("ray.autoscaling_config.min_replicas", "5"), ("ray.autoscaling_config.max_replicas", "2")));
        Assert.Contains(inverted.Errors, e => e.Tag == "ray.autoscaling_config.min_replicas" && e.Problem.Contains("greater than"));
    }

    [Fact]
    public void Optional_tags_map_to_their_fields()
    {
        var result = DeploymentTags.Parse(Seed(
            ("ray.ray_actor_options.num_gpus", "1"),
            ("ray.ray_actor_options.runtime_env.env_vars", "{\"ENV_VAR\": \"value\"}"),
            ("ray.max_ongoing_requests", "8"),
            ("ray.user_config.max_batch_size", "16"),
            ("ray.route_prefix", "/iris"),
            ("ray.enabled", "true"),
            ("ray.ray_actor_options.memory", "0.5")));
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        var s = result.Spec!;
        Assert.Equal(1.0, s.NumGpus);
        Assert.Equal("value", s.EnvVars["ENV_VAR"]);
        Assert.Equal(8, s.MaxOngoingRequests);
        Assert.Equal(16, s.MaxBatchSize);
        Assert.Equal("/iris", s.RoutePrefix);
        Assert.Equal(536870912L, s.MemoryBytes);
    }

    [Fact]
    public void Disabled_model_needs_no_other_tags()
    {
        var result = DeploymentTags.Parse(new Dictionary<string, string> { ["ray.enabled"] = "false" });
        Assert.True(result.Disabled);
        Assert.Empty(result.Errors);
    }

    [Fact]
    public void Version_tags_override_registered_model_tags_and_other_prefixes_are_ignored()
    {
        var merged = DeploymentTags.Effective(Seed(("team", "risk")),
            new Dictionary<string, string> { ["ray.num_replicas"] = "3", ["mlray.ray-cluster-py39.status"] = "RUNNING" });
        var result = DeploymentTags.Parse(merged);
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal(3, result.Spec!.NumReplicas);
    }
}
