using MLRay.Deploy;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Tests.Unit;

/// <summary>The pure core of <c>mlray status</c>: Ray's apps, MLRay's tags and the dead letters → one status per selected model.</summary>
public class ModelStatusReportTests
{
    private static readonly RayClusterConfig Py39 = new()
    {
        Name = "c39", PythonVersion = PythonVersionSpec.Parse("3.9"), DashboardAddress = new("http://ray39:8265"), MlflowTrackingUri = new("http://mlflow:5000"),
    };
    private static readonly RayClusterConfig Py312 = Py39 with { Name = "c312", PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray312:8265") };

    /// <summary>When the version was registered; a letter written before is about an earlier version of that name.</summary>
    private static readonly DateTimeOffset Created = DateTimeOffset.FromUnixTimeSeconds(1_755_600_000);

    private static readonly Dictionary<string, string> GoodTags = new()
    {
        ["ray.name"] = "m", ["ray.num_replicas"] = "1", ["ray.ray_actor_options.num_cpus"] = "0.5", ["ray.ray_actor_options.memory"] = "1",
    };

    private static (ModelCandidate Candidate, ModelVersion Version) Model(string python, Dictionary<string, string>? tags = null, Dictionary<string, string>? versionTags = null)
    {
        var version = new ModelVersion { Name = "m.staging", Version = "1", Status = "READY", CreationTimestamp = Created.ToUnixTimeMilliseconds(), Tags = [.. (versionTags ?? []).Select(t => new MlflowTag(t.Key, t.Value))] };
        return (new ModelCandidate
        {
            RegisteredModel = "m.staging", Version = version, Tags = DeploymentTags.Parse(tags ?? GoodTags),
            Environment = new ModelEnvironment(PythonVersionSpec.Parse(python), "python_env.yaml", ["catboost==1.2.8"]),
        }, version);
    }

    private static ServeInstance Ray(string? status) => ServeInstance.Parse(new JsonObject
    {
        ["applications"] = status is null ? new JsonObject() : new JsonObject
        {
            ["m"] = new JsonObject
            {
                ["status"] = status, ["message"] = status == "DEPLOY_FAILED" ? "pip failed" : "", ["route_prefix"] = "/m",
                ["deployed_app_config"] = new JsonObject { ["name"] = "m", ["args"] = new JsonObject { ["mlray_model"] = "m.staging", ["mlray_version"] = "1" } },
            },
        },
    });

    public static TheoryData<string, string?, Dictionary<string, string>?, Dictionary<string, string>?, int?, string> Cases => new()
    {
        // python, Ray app status, model tags, version tags, a letter in the queue (its last failure, seconds after the
        // version was created) → status on the py39 cluster
        { "3.9.22", "RUNNING", null, null, null, ModelStatus.Running },
        { "3.9.22", "DEPLOYING", null, null, null, ModelStatus.Deploying },
        { "3.9.22", "DEPLOY_FAILED", null, null, null, ModelStatus.Failed },
        { "3.9.22", null, null, null, null, ModelStatus.NotDeployed },
        { "3.9.22", null, null, new() { ["mlray.c39.status"] = "FAILED", ["mlray.c39.message"] = "pre-flight: no" }, null, ModelStatus.Failed },
        { "3.9.22", null, null, null, 60, ModelStatus.DeadLettered },
        { "3.9.22", null, null, null, -60, ModelStatus.NotDeployed },   // a letter of an earlier "m.staging" version 1 (e.g. another registry)
        { "3.9.22", null, null, new() { ["mlray.c39.attempt"] = "{\"spec\":\"x\",\"dead_letter\":\"l1\"}" }, null, ModelStatus.DeadLettered },
        { "3.9.22", null, [], null, null, ModelStatus.Pending },
        { "3.9.22", null, new() { ["ray.name"] = "m" }, null, null, ModelStatus.Failed },
        { "3.10.4", null, null, null, null, ModelStatus.Unroutable },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_selected_model_gets_the_status_its_facts_say(string python, string? rayStatus, Dictionary<string, string>? tags,
        Dictionary<string, string>? versionTags, int? letterAfterSeconds, string expected)
    {
        var (candidate, version) = Model(python, tags, versionTags);
        var snapshot = new RegistrySnapshot([candidate], new Dictionary<(string, string), ModelVersion> { [("m.staging", "1")] = version });
        var current39 = Ray(rayStatus);
        var current312 = Ray(null);
        var letters = letterAfterSeconds is { } after
            ? new Dictionary<(string, string, string), DateTimeOffset> { [("c39", "m.staging", "1")] = Created.AddSeconds(after) } : [];

        var rows = ModelStatusReport.For([(DesiredState.For(Py39, snapshot.Models, current39), current39), (DesiredState.For(Py312, snapshot.Models, current312), current312)],
            snapshot, letters);

        var row = Assert.Single(rows);
        Assert.Equal(expected, row.Status);
        Assert.Equal(expected == ModelStatus.Unroutable ? null : "c39", row.Cluster);
    }
}
