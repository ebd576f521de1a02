using MLRay.Deploy;
using MLRay.Pipeline.Rollouts;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Tests.Unit;

/// <summary>
/// <c>mlray rollout status</c> in the pure part: which versions show, their weights from the rollout state, which rollout is in
/// progress (the attempt tag over its stale mirror), the gateway's figures per version, and the one JSON shape.
/// </summary>
public class RolloutStatusTests
{
    private static readonly DateTimeOffset Since = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);

    private static RayClusterConfig Cluster(TrafficMode traffic = TrafficMode.Gateway) => new()
    {
        Name = "c", PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray:8265"),
        MlflowTrackingUri = new("http://mlflow:5000"),
        Serving = new ServingSettings { Traffic = traffic },
    };

    private static ModelVersion Version(string version, string? status, RolloutState? attemptRollout = null, RolloutState? mirror = null,
        string? smoke = null, string? message = null, bool attempt = true)
    {
        var tags = new List<MlflowTag>();
        void Tag(string field, string? value)
        {
            if (value is not null) tags.Add(new MlflowTag(MLRayTags.Key("c", field), value));
        }
        Tag(MLRayTags.Status, status);
        Tag(MLRayTags.Message, message);
        Tag(MLRayTags.SmokeTest, smoke);
        Tag(MLRayTags.Rollout, mirror?.ToJson());
        if (attempt) Tag(MLRayTags.Attempt, new AttemptState { Spec = "s", Attempts = 1, Rollout = attemptRollout }.ToJson());
        tags.Add(new MlflowTag(MLRayTags.Key("other", MLRayTags.Status), DeployStatus.Running));   // another cluster's tags do not count
        return new ModelVersion { Name = "m.staging", Version = version, Tags = tags };
    }

    private static RolloutState Rolling(int weight, bool paused = false) => new() { Step = 0, Weight = weight, Since = Since, From = "2", Paused = paused };

    private static Dictionary<string, int> Weights(RolloutStatus status) => status.Versions.ToDictionary(v => v.Version, v => v.Weight);

    [Fact]
    public void A_candidate_takes_its_rollouts_weight_the_version_it_leaves_the_rest_and_other_versions_none()
    {
        var status = RolloutStatus.From(Cluster(), "m.staging",
        [
            Version("1", DeployStatus.Failed, message: "pip failed"),
            Version("2", DeployStatus.Running, smoke: "passed 4 ms"),
            Version("3", DeployStatus.RollingOut, Rolling(10), Rolling(10), smoke: "passed 41 ms", message: "at 10 % on c (version 2 takes the rest); next step at …"),
            Version("4", DeployStatus.Undeployed),
            Version("5", null),
        ]);

        Assert.Equal(["3", "2", "1"], status.Versions.Select(v => v.Version));   // newest first; UNDEPLOYED and untagged ones are not shown
        Assert.Equal(new Dictionary<string, int> { ["3"] = 10, ["2"] = 90, ["1"] = 0 }, Weights(status));
        var candidate = Assert.IsType<RolloutVersion>(status.InProgress);
        Assert.Equal("3", candidate.Version);
        Assert.Equal("passed 41 ms", candidate.SmokeTest);
        Assert.StartsWith("at 10 %", candidate.Message);
        Assert.Null(status.Versions.Single(v => v.Version == "2").Message);   // an empty message is no message
    }

    [Fact]
    public void Without_a_rollout_in_progress_the_running_version_takes_everything()
    {
        var done = new RolloutState { Weight = 100, Since = Since, From = "2", Done = true };
        var status = RolloutStatus.From(Cluster(), "m.staging", [Version("2", DeployStatus.Undeployed), Version("3", DeployStatus.Running, done, done)]);

        Assert.Null(status.InProgress);
        Assert.Equal(new Dictionary<string, int> { ["3"] = 100 }, Weights(status));
    }

    [Fact]
    public void A_stopped_rollouts_mirror_tag_does_not_make_it_in_progress_but_the_mirror_speaks_when_there_is_no_attempt_tag()
    {
        // Aborted or failed: the attempt state dropped the rollout, the mirror still says 50 %.
        var aborted = RolloutStatus.From(Cluster(), "m.staging",
            [Version("2", DeployStatus.Running), Version("3", DeployStatus.Failed, attemptRollout: null, mirror: Rolling(50))]);
        var mirrorOnly = RolloutStatus.From(Cluster(), "m.staging",
            [Version("2", DeployStatus.Running), Version("3", DeployStatus.RollingOut, mirror: Rolling(50, paused: true), attempt: false)]);

        Assert.Null(aborted.InProgress);
        Assert.Equal(new Dictionary<string, int> { ["3"] = 0, ["2"] = 100 }, Weights(aborted));
        Assert.Equal("3", mirrorOnly.InProgress?.Version);
        Assert.True(mirrorOnly.InProgress!.Rollout!.Paused);
        Assert.Equal(new Dictionary<string, int> { ["3"] = 50, ["2"] = 50 }, Weights(mirrorOnly));
    }

    [Fact]
    public void The_gateways_figures_go_to_each_version_of_the_models_route_and_the_json_carries_them()
    {
        var stats = GatewayStats.Parse(JsonNode.Parse("""
            {"window_s": 300, "routes": {
              "/m": {"model": "m.staging", "versions": {
                "2": {"requests": 90, "errors": 1, "p50_ms": 12.0, "p99_ms": 40.5, "shadow": false},
                "3": {"requests": 10, "errors": 0, "p50_ms": 11.0, "p99_ms": 20.0, "shadow": false}}},
              "/other": {"model": "o.staging", "versions": {"1": {"requests": 5, "errors": 5, "p50_ms": 1, "p99_ms": 1, "shadow": false}}}}}
            """)!.AsObject());
        var status = RolloutStatus.From(Cluster(), "m.staging",
            [Version("1", DeployStatus.Failed), Version("2", DeployStatus.Running), Version("3", DeployStatus.RollingOut, Rolling(10), smoke: "passed 41 ms")])
            .WithStats("/m", stats);

        var json = RolloutJson.Status(status);

        Assert.Equal("c", (string?)json["cluster"]);
        Assert.Equal("m.staging", (string?)json["registered_model"]);
        Assert.Equal("gateway", (string?)json["traffic"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"version": "3", "from": "2", "weight": 10, "step": 0, "since": "2026-12-03T10:00:00.0000000+00:00", "paused": false}"""),
            json["rollout"]), json["rollout"]!.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"route": "/m", "window_s": 300, "error": null}"""), json["gateway_stats"]));
        var versions = json["versions"]!.AsArray();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"version": "3", "status": "ROLLING_OUT", "weight": 10, "smoke_test": "passed 41 ms", "message": null,
             "stats": {"requests": 10, "errors": 0, "p50_ms": 11.0, "p99_ms": 20.0}}
            """), versions[0]), versions[0]!.ToJsonString());
        Assert.Equal(90, (long)versions[1]!["stats"]!["requests"]!);
        Assert.Null(versions[2]!["stats"]);   // the gateway saw no request for version 1
    }

    [Fact]
    public void A_direct_cluster_has_no_gateway_stats_and_the_listing_names_each_rollout_with_its_cluster()
    {
        var direct = RolloutStatus.From(Cluster(TrafficMode.Direct), "m.staging", [Version("2", DeployStatus.Running)]);
        var rolling = RolloutStatus.From(Cluster(), "m.staging", [Version("2", DeployStatus.Running), Version("3", DeployStatus.RollingOut, Rolling(10, paused: true))]);

        Assert.Null(RolloutJson.Status(direct)["gateway_stats"]);
        Assert.Null(RolloutJson.Status(direct)["rollout"]);
        var listing = RolloutJson.Listing([rolling]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"rollouts": [{"cluster": "c", "registered_model": "m.staging", "version": "3", "from": "2", "weight": 10, "step": 0,
                           "since": "2026-12-03T10:00:00.0000000+00:00", "paused": true, "status": "ROLLING_OUT", "message": null}]}
            """), listing), listing.ToJsonString());
    }

    [Fact]
    public void Rollout_commands_are_parsed_by_name_and_anything_else_names_the_four()
    {
        Assert.Equal(RolloutCommand.Promote, RolloutCommands.Parse(" Promote "));
        var e = Assert.Throws<ArgumentException>(() => RolloutCommands.Parse("rollback"));
        Assert.Equal("'rollback' is not a rollout command (pause, resume, promote, abort)", e.Message);
        Assert.Equal("no rollout in progress for 'fraud' on 'py312'", RolloutOperations.NoRollout("py312", "fraud"));
    }
}
