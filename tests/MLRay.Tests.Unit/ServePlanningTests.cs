using MLRay.Deploy;
using MLRay.Serve;

namespace MLRay.Tests.Unit;

public class ServePlanningTests
{
    private static readonly RayClusterConfig Cluster = new()
    {
        Name = "ray-cluster-py39",
        PythonVersion = PythonVersionSpec.Parse("3.9"),
        DashboardAddress = new Uri("http://ray:8265"),
        MlflowTrackingUri = new Uri("http://mlflow-server:8080"),
        EnvVars = new Dictionary<string, string> { ["CLUSTER"] = "py39", ["SHARED"] = "cluster" },
        ExtraPip = ["pyarrow==19.0.1"],
    };

    private static ModelCandidate Candidate(string app, string python = "3.9.22", string version = "1",
        IReadOnlyDictionary<string, string>? extraTags = null, string? problem = null)
    {
        var tags = new Dictionary<string, string>
        {
            ["ray.name"] = app, ["ray.num_replicas"] = "1",
            ["ray.ray_actor_options.num_cpus"] = "0.5", ["ray.ray_actor_options.memory"] = "1",
        };
        foreach (var (k, v) in extraTags ?? new Dictionary<string, string>())
            if (v.Length == 0) tags.Remove(k); else tags[k] = v; // "" removes a base tag
        return new ModelCandidate
        {
            RegisteredModel = app + ".staging",
            Version = new MLRay.Registry.ModelVersion { Name = app + ".staging", Version = version },
            Tags = DeploymentTags.Parse(tags),
            Environment = problem is null ? new ModelEnvironment(PythonVersionSpec.Parse(python), "python_env.yaml", ["mlflow==3.1.0", "catboost==1.2.8"]) : null,
            Problem = problem,
        };
    }

    private static ServeInstance Running(params JsonObject[] configs)
    {
        var apps = new JsonObject();
        foreach (var c in configs)
            apps[(string)c["name"]!] = new JsonObject { ["name"] = c["name"]!.DeepClone(), ["status"] = "RUNNING", ["message"] = "", ["deployed_app_config"] = c.DeepClone() };
        return ServeInstance.Parse(new JsonObject { ["applications"] = apps });
    }

    private static readonly JsonObject Foreign = JsonNode.Parse("""
        {"name": "hand-made", "route_prefix": "/hand", "import_path": "team.app:app",
         "runtime_env": {"pip": ["torch==2.3.0"]}, "deployments": [{"name": "Model", "num_replicas": 2, "ray_actor_options": {"num_cpus": 1.0}}]}
        """)!.AsObject();

    [Fact]
    public void A_model_becomes_one_application_with_the_builder_pip_env_and_resources()
    {
        var desired = DesiredState.For(Cluster, [Candidate("iris", extraTags: new Dictionary<string, string>
        {
            ["ray.ray_actor_options.runtime_env.env_vars"] = "{\"SHARED\": \"model\"}",
        })]);
        var app = Assert.Single(desired.Applications);
        Assert.Equal("iris", (string)app["name"]!);
        Assert.Equal("/iris", (string)app["route_prefix"]!);
        Assert.Equal("mlray_serve.app:build", (string)app["import_path"]!);
        Assert.Equal("models:/iris.staging/1", (string)app["args"]!["model_uri"]!);
        Assert.Equal("iris.staging", (string)app["args"]!["mlray_model"]!);
        Assert.Equal(["mlflow==3.1.0", "catboost==1.2.8", "pyarrow==19.0.1"], app["runtime_env"]!["pip"]!.AsArray().Select(p => (string)p!));
        var env = app["runtime_env"]!["env_vars"]!.AsObject();
        Assert.Equal("http://mlflow-server:8080", (string)env["MLFLOW_TRACKING_URI"]!);
        Assert.Equal("py39", (string)env["CLUSTER"]!);
        Assert.Equal("model", (string)env["SHARED"]!);
        var deployment = app["deployments"]![0]!;
        Assert.Equal("MLflowModel", (string)deployment["name"]!);
        Assert.Equal(1, (int)deployment["num_replicas"]!);
        Assert.Equal(0.5, (double)deployment["ray_actor_options"]!["num_cpus"]!);
        Assert.Equal(1073741824L, (long)deployment["ray_actor_options"]!["memory"]!);
        Assert.Null(deployment["autoscaling_config"]);
    }

    [Fact]
    public void Autoscaling_batch_and_gpus_reach_the_deployment()
    {
        var desired = DesiredState.For(Cluster, [Candidate("iris", extraTags: new Dictionary<string, string>
        {
            ["ray.num_replicas"] = "", ["ray.autoscaling_config.min_replicas"] = "1", ["ray.autoscaling_config.max_replicas"] = "3",
            ["ray.max_ongoing_requests"] = "4", ["ray.user_config.max_batch_size"] = "8", ["ray.ray_actor_options.num_gpus"] = "1",
            ["ray.user_config.batch_wait_timeout_s"] = "0.05",
        })]);
        var deployment = desired.Applications.Single()["deployments"]![0]!;
        Assert.Null(deployment["num_replicas"]);
        Assert.Equal(1, (int)deployment["autoscaling_config"]!["min_replicas"]!);
        Assert.Equal(3, (int)deployment["autoscaling_config"]!["max_replicas"]!);
        Assert.Equal(4, (int)deployment["max_ongoing_requests"]!);
        Assert.Equal(8, (int)deployment["user_config"]!["max_batch_size"]!);
        Assert.Equal(0.05, (double)deployment["user_config"]!["batch_wait_timeout_s"]!);
        Assert.Equal(1.0, (double)deployment["ray_actor_options"]!["num_gpus"]!);
    }

    [Fact]
    public void Models_reach_only_the_cluster_of_their_python()
    {
        var desired = DesiredState.For(Cluster, [Candidate("a", "3.9.22"), Candidate("b", "3.12.11")]);
        Assert.Equal(["a"], desired.Applications.Select(a => (string)a["name"]!));
        Assert.Equal(ModelOutcomeKind.OtherCluster, desired.Models.Single(m => m.RegisteredModel == "b.staging").Kind);
    }

    [Fact]
    public void A_model_for_another_cluster_does_not_report_its_tag_errors_here()
    {
        var broken = Candidate("b", "3.12.11", extraTags: new Dictionary<string, string> { ["ray.bogus"] = "1" });
        Assert.Equal(ModelOutcomeKind.OtherCluster, DesiredState.For(Cluster, [broken]).Models.Single().Kind);
    }

    [Fact]
    public void Duplicate_names_and_foreign_names_are_refused_for_the_later_model()
    {
        var desired = DesiredState.For(Cluster, [Candidate("a"), Candidate("b", extraTags: new Dictionary<string, string> { ["ray.name"] = "a" }),
            Candidate("c", extraTags: new Dictionary<string, string> { ["ray.name"] = "hand-made" })], Running(Foreign));
        Assert.Single(desired.Applications);
        Assert.Contains("already used by model 'a.staging'", desired.Models.Single(m => m.RegisteredModel == "b.staging").Problems.Single());
        Assert.Contains("MLRay does not manage", desired.Models.Single(m => m.RegisteredModel == "c.staging").Problems.Single());
    }

    [Fact]
    public void Foreign_apps_are_carried_over_exactly_and_an_unchanged_cluster_needs_no_put()
    {
        var desired = DesiredState.For(Cluster, [Candidate("iris")]);
        var first = ServeConfigPlanner.Plan(desired.Applications, Running(Foreign), desired.KeepAsIs);
        Assert.True(first.NeedsPut);
        var apps = first.Config["applications"]!.AsArray();
        Assert.Equal(Foreign.ToJsonString(), apps[0]!.ToJsonString());
        Assert.Contains(first.Changes, c => c is { App: "iris", Kind: AppChangeKind.Added });
        Assert.Contains(first.Changes, c => c is { App: "hand-made", Kind: AppChangeKind.Foreign });

        var second = ServeConfigPlanner.Plan(desired.Applications, Running(apps.Select(a => a!.AsObject()).ToArray()), desired.KeepAsIs);
        Assert.False(second.NeedsPut);
    }

    [Fact]
    public void A_new_version_updates_and_a_model_gone_is_removed_unless_it_is_merely_invalid()
    {
        var v1 = DesiredState.For(Cluster, [Candidate("a"), Candidate("b"), Candidate("c")]);
        var running = Running([.. v1.Applications]);

        var v2 = DesiredState.For(Cluster, [Candidate("a", version: "2"), Candidate("c", problem: "python_env.yaml: broken")]);
        var plan = ServeConfigPlanner.Plan(v2.Applications, running, v2.KeepAsIs);
        Assert.Equal(AppChangeKind.Updated, plan.Changes.Single(c => c.App == "a").Kind);
        Assert.Equal(AppChangeKind.Removed, plan.Changes.Single(c => c.App == "b").Kind);
        Assert.Equal(AppChangeKind.Unchanged, plan.Changes.Single(c => c.App == "c").Kind);
        Assert.Equal(["a", "c"], plan.Config["applications"]!.AsArray().Select(a => (string)a!["name"]!).Order());
        Assert.Contains(JsonDiff.Compare(running.Applications["a"].DeployedAppConfig, v2.Applications[0]),
            d => d.Path == "args.model_uri" && d.ToString().Contains("models:/a.staging/2"));
    }

    [Fact]
    public void Imperative_apps_are_not_sent_and_target_capacity_is_kept()
    {
        var raw = JsonNode.Parse("""{"target_capacity": 50, "applications": {"imp": {"name": "imp", "status": "RUNNING", "source": "imperative", "deployed_app_config": null}}}""")!.AsObject();
        var plan = ServeConfigPlanner.Plan([], ServeInstance.Parse(raw), new HashSet<string>());
        Assert.Empty(plan.Config["applications"]!.AsArray());
        Assert.Equal(50, (int)plan.Config["target_capacity"]!);
        Assert.False(plan.NeedsPut);
    }

    public static TheoryData<string, string, bool> JsonPairs => new()
    {
        { """{"a": 1, "b": [1, 2]}""", """{"b": [1, 2], "a": 1.0}""", true },
        { """{"a": [1, 2]}""", """{"a": [2, 1]}""", false },
        { """{"a": null}""", """{}""", false },
        { """{"a": "1"}""", """{"a": 1}""", false },
        { """{"a": {"b": true}}""", """{"a": {"b": true}}""", true },
    };

    [Theory]
    [MemberData(nameof(JsonPairs))]
    public void Json_comparison_ignores_key_order_and_number_spelling(string a, string b, bool equal) =>
        Assert.Equal(equal, JsonCanon.Equal(JsonNode.Parse(a), JsonNode.Parse(b)));

    [Fact]
    public void Ray_messages_are_summarised_to_the_line_that_says_why()
    {
        const string pip = "Runtime env setup for app 'x' failed:\nTraceback (most recent call last):\n  File \"a.py\"\nray.exceptions.RuntimeEnvSetupError: Failed to set up runtime environment.\n    ERROR: Could not find a version that satisfies the requirement catboost==1.1 (from versions: 1.2)\n    ERROR: No matching distribution found for catboost==1.1\n";
        var summary = RayMessage.Summarize(pip);
        Assert.StartsWith("Runtime env setup for app 'x' failed:", summary);
        Assert.Contains("No matching distribution found for catboost==1.1", summary);
        Assert.DoesNotContain("Traceback", summary);

        const string import = "Deploying app 'x' failed with exception:\nTraceback (most recent call last):\n  File \"b.py\"\nModuleNotFoundError: No module named 'mlray_serve'\n";
        Assert.Equal("Deploying app 'x' failed with exception:\nModuleNotFoundError: No module named 'mlray_serve'", RayMessage.Summarize(import));
        Assert.True(RayMessage.Summarize(new string('x', 5000), 100).Length <= 100);
    }
}
