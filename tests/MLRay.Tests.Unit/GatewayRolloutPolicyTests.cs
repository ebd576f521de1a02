using MLRay.Deploy;
using MLRay.Serve;
using MLRay.Verify;

namespace MLRay.Tests.Unit;

/// <summary>Gateway mode in the pure core: the layout, the rollout's steps as the stats allow, rollback, and the move between layouts.</summary>
public class GatewayRolloutPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(2);

    private static RayClusterConfig Cluster(TrafficMode traffic = TrafficMode.Gateway) => new()
    {
        Name = "c", PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray:8265"),
        MlflowTrackingUri = new("http://mlflow:5000"),
        Retry = new RetrySettings { Attempts = 2, Delays = [TimeSpan.FromMinutes(1)] },
        Serving = new ServingSettings { Traffic = traffic },
    };

    private static JsonObject App(string version) => new()
    {
        ["name"] = "m", ["route_prefix"] = "/m", ["import_path"] = "mlray_serve.app:build",
        ["args"] = new JsonObject { ["model_uri"] = $"models:/m.staging/{version}", ["mlray_model"] = "m.staging", ["mlray_version"] = version },
    };

    private static JsonObject Deployed(JsonObject app, string status = "RUNNING") => new()
    {
        ["status"] = status, ["message"] = "", ["deployed_app_config"] = app.DeepClone(), ["route_prefix"] = app["route_prefix"]?.DeepClone(),
    };

    /// <summary>Ray running <paramref name="apps"/>, and a running gateway that routes to each version app among them.</summary>
    private static ServeInstance Ray(params JsonObject[] apps) =>
        Routing(apps.Where(a => a["route_prefix"] is null).Select(a => (string)a["args"]!["mlray_version"]!).ToArray(), apps);

    /// <summary>Ray running <paramref name="apps"/>, and a running gateway whose table names the <paramref name="routed"/> versions.</summary>
    private static ServeInstance Routing(string[] routed, params JsonObject[] apps)
    {
        var node = new JsonObject();
        foreach (var a in apps) node[(string)a["name"]!] = Deployed(a);
        var versions = apps.Where(a => a["route_prefix"] is null && routed.Contains((string)a["args"]!["mlray_version"]!))
            .Select(a => new VersionShare((string)a["args"]!["mlray_version"]!, (string)a["name"]!, 50)).ToList();
        if (versions.Count > 0 && !node.ContainsKey(GatewayLayout.AppName))
            node[GatewayLayout.AppName] = Deployed(GatewayLayout.GatewayApp(Cluster(), [new GatewayRoute("/m", "m.staging", versions, [])]));
        return ServeInstance.Parse(new JsonObject { ["applications"] = node });
    }

    private static AttemptPlan Plan(AttemptState? state, ServeInstance current, bool lastGood = true, IReadOnlyDictionary<string, VersionStats>? stats = null,
        SmokeVerdict? smoke = null, TrafficMode traffic = TrafficMode.Gateway, DateTimeOffset? at = null) =>
        AttemptPolicy.Plan(new DesiredState(Cluster(traffic), [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12.11", [])], [App("2")]),
            [new AttemptPolicy.ModelFacts("m.staging", "2", "spec", state, lastGood ? ("1", App("1")) : null) { Smoke = smoke, Stats = stats }],
            current, at ?? Now, new HashSet<string>(), () => "letter-1");

    private static readonly JsonObject V1 = GatewayLayout.VersionApp(App("1"));
    private static readonly JsonObject V2 = GatewayLayout.VersionApp(App("2"));
    private static readonly SmokeVerdict Passed = SmokeVerdict.Judge(200, "application/json", "{\"predictions\": [1]}", TimeSpan.FromMilliseconds(5), "x");

    private static JsonObject Gateway(AttemptPlan plan) => plan.Applications.Single(a => (string)a["name"]! == GatewayLayout.AppName);

    private static Dictionary<string, int> Weights(AttemptPlan plan) =>
        GatewayLayout.RoutesOf(Gateway(plan), "/").Single(r => r.Route == "/m").Versions.ToDictionary(v => v.Version, v => v.Weight);

    private static AttemptState Rolling(int step, int weight, DateTimeOffset since) => new()
    {
        Spec = "spec", Attempts = 1, StartedAt = since.AddMinutes(-1), SmokeTest = "passed 5 ms",
        Rollout = new RolloutState { Step = step, Weight = weight, Since = since, From = "1" },
    };

    [Fact]
    public void A_new_version_joins_as_its_own_app_without_a_route_at_weight_0_beside_the_version_serving()
    {
        var plan = Plan(null, Ray(V1));
        Assert.Equal(["m--v1", "m--v2", "mlray-gateway"], plan.Applications.Select(a => (string)a["name"]!).Order());
        Assert.Null(plan.Applications.Single(a => (string)a["name"]! == "m--v2")["route_prefix"]);
        Assert.Equal(new Dictionary<string, int> { ["1"] = 100, ["2"] = 0 }, Weights(plan));
        var gateway = Gateway(plan);
        Assert.Equal(("/", "mlray_serve.gateway:build"), ((string)gateway["route_prefix"]!, (string)gateway["import_path"]!));
        var deployment = gateway["deployments"]![0]!;
        Assert.Equal(("MLRayGateway", 2, 0.1, 300), ((string)deployment["name"]!, (int)deployment["num_replicas"]!, (double)deployment["ray_actor_options"]!["num_cpus"]!,
            (int)deployment["user_config"]!["stats_window_s"]!));
    }

    [Fact]
    public void A_passed_smoke_test_starts_the_rollout_at_the_first_step()
    {
        var testing = new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-5), SmokeTest = AttemptState.SmokeTestPending };
        var plan = Plan(testing, Ray(V1, V2), smoke: Passed);
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.RollingOut, 10, "1", Now + Interval), (d.Phase, d.State.Rollout!.Weight, d.State.Rollout.From, d.LookAgainAt!.Value));
        Assert.Equal(new Dictionary<string, int> { ["1"] = 90, ["2"] = 10 }, Weights(plan));
        Assert.Contains("at 10 %", d.Message);
        Assert.Equal("/m", d.Route);
    }

    [Fact]
    public void The_first_version_of_a_model_takes_its_route_at_once_after_its_smoke_test()
    {
        var testing = new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-5), SmokeTest = AttemptState.SmokeTestPending };
        var plan = Plan(testing, Ray(V2), lastGood: false, smoke: Passed);
        Assert.Equal((AttemptPhase.Running, true), (Assert.Single(plan.Decisions).Phase, Assert.Single(plan.Decisions).State.Rollout!.Done));
        Assert.Equal(new Dictionary<string, int> { ["2"] = 100 }, Weights(plan));
    }

    [Theory]
    [InlineData(0, 10, 100, 0, 1, 50)]   // enough requests, no errors: next step
    [InlineData(1, 50, 100, 1, 2, 100)]  // 1 % is not more than max_error_rate: on to 100
    public void A_due_step_with_good_stats_advances(int step, int weight, long requests, long errors, int nextStep, int nextWeight)
    {
        var stats = new Dictionary<string, VersionStats> { ["2"] = new(requests, errors, 5, 9, false), ["1"] = new(900, 9, 5, 9, false) };
        var plan = Plan(Rolling(step, weight, Now - Interval), Ray(V1, V2), stats: stats);
        var r = Assert.Single(plan.Decisions).State.Rollout!;
        Assert.Equal((nextStep, nextWeight, Now), (r.Step, r.Weight, r.Since));
        Assert.Equal(100 - nextWeight, Weights(plan)["1"]);
    }

    [Fact]
    public void A_step_not_yet_due_keeps_the_weights_and_looks_again_when_it_is()
    {
        var plan = Plan(Rolling(0, 10, Now.AddSeconds(-30)), Ray(V1, V2));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.RollingOut, false, Now.AddSeconds(90)), (d.Phase, d.StateChanged, d.LookAgainAt!.Value));
        Assert.Equal(new Dictionary<string, int> { ["1"] = 90, ["2"] = 10 }, Weights(plan));
    }

    [Fact]
    public void A_rising_error_rate_rolls_back_to_the_previous_version_alone_and_counts_the_attempt()
    {
        var stats = new Dictionary<string, VersionStats> { ["2"] = new(40, 4, 5, 9, false), ["1"] = new(400, 0, 5, 9, false) };
        var plan = Plan(Rolling(0, 10, Now - Interval), Ray(V1, V2), stats: stats);
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.WaitingToRetry, "1"), (d.Phase, d.ServedVersion));
        Assert.Contains("rollout stopped: error rate 10 % over 40 requests at 10 %", d.Message);
        Assert.Equal(new Dictionary<string, int> { ["1"] = 100 }, Weights(plan));
        // Version 2's app drains while the running gateway may still call it, looked at again in a second; then it goes.
        Assert.Equal(["m--v1", "m--v2", "mlray-gateway"], plan.Applications.Select(a => (string)a["name"]!).Order());
        Assert.Equal(Now.AddSeconds(1), d.LookAgainAt);
        var drained = AttemptPolicy.Plan(new DesiredState(Cluster(), [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12.11", [])], [App("2")]),
            [new AttemptPolicy.ModelFacts("m.staging", "2", "spec", d.State, ("1", App("1")))], Routing(["1"], V1, V2), Now, new HashSet<string>(), () => "letter-2");
        Assert.Equal(["m--v1", "mlray-gateway"], drained.Applications.Select(a => (string)a["name"]!).Order());
    }

    [Fact]
    public void The_last_attempt_failing_its_rollout_is_dead_lettered_as_rollout()
    {
        var stats = new Dictionary<string, VersionStats> { ["2"] = new(40, 10, 5, 9, false) };
        var d = Assert.Single(Plan(Rolling(0, 10, Now - Interval) with { Attempts = 2 }, Ray(V1, GatewayLayout.VersionApp(AttemptPolicy.WithAttempt(App("2"), 2))), stats: stats).Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, FailureClass.Rollout), (d.Phase, d.Letter!.FailureClass));
    }

    [Theory]
    [InlineData(5, NoTrafficAction.Promote, AttemptPhase.RollingOut)]     // within max_wait: wait
    [InlineData(11, NoTrafficAction.Promote, AttemptPhase.RollingOut)]    // past it: promoted to the next step
    [InlineData(11, NoTrafficAction.Fail, AttemptPhase.WaitingToRetry)]   // past it, on_no_traffic: fail
    public void Too_little_traffic_waits_up_to_max_wait_then_on_no_traffic_decides(int minutesInStep, NoTrafficAction action, AttemptPhase expected)
    {
        var settings = new RolloutSettings { OnNoTraffic = action };
        var state = Rolling(0, 10, Now.AddMinutes(-minutesInStep));
        var plan = AttemptPolicy.Plan(new DesiredState(Cluster(), [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12.11", [])], [App("2")]),
            [new AttemptPolicy.ModelFacts("m.staging", "2", "spec", state, ("1", App("1"))) { Rollout = settings, Stats = new Dictionary<string, VersionStats> { ["2"] = new(3, 0, 1, 1, false) } }],
            Ray(V1, V2), Now, new HashSet<string>(), () => "letter-1");
        var d = Assert.Single(plan.Decisions);
        Assert.Equal(expected, d.Phase);
        if (minutesInStep == 5) Assert.Equal(10, d.State.Rollout!.Weight);
        if (minutesInStep == 11 && action == NoTrafficAction.Promote) Assert.Equal(50, d.State.Rollout!.Weight);
    }

    [Fact]
    public void At_100_percent_the_previous_app_stays_one_interval_then_goes_and_the_version_runs()
    {
        var holding = Plan(Rolling(2, 100, Now.AddSeconds(-10)), Ray(V1, V2));
        Assert.Equal((AttemptPhase.RollingOut, 0), (Assert.Single(holding.Decisions).Phase, Weights(holding)["1"]));
        Assert.Contains(holding.Applications, a => (string)a["name"]! == "m--v1");

        var done = Plan(Rolling(2, 100, Now - Interval), Routing(["2"], V1, V2));
        Assert.Equal((AttemptPhase.Running, true), (Assert.Single(done.Decisions).Phase, Assert.Single(done.Decisions).State.Rollout!.Done));
        Assert.DoesNotContain(done.Applications, a => (string)a["name"]! == "m--v1");
        Assert.Equal(new Dictionary<string, int> { ["2"] = 100 }, Weights(done));
    }

    [Fact]
    public void A_paused_rollout_holds_its_weights_whatever_the_stats()
    {
        var paused = Rolling(0, 10, Now.AddHours(-1)) with { Rollout = new RolloutState { Step = 0, Weight = 10, Since = Now.AddHours(-1), From = "1", Paused = true } };
        var plan = Plan(paused, Ray(V1, V2), stats: new Dictionary<string, VersionStats> { ["2"] = new(100, 50, 1, 1, false) });
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.RollingOut, (DateTimeOffset?)null), (d.Phase, d.LookAgainAt));
        Assert.Contains("paused", d.Message);
        Assert.Equal(10, Weights(plan)["2"]);
    }

    [Fact]
    public void Moving_to_the_gateway_keeps_the_direct_apps_until_every_new_app_runs_then_removes_them()
    {
        var cluster = Cluster();
        var gateway = GatewayLayout.GatewayApp(cluster, [new GatewayRoute("/m", "m.staging", [new VersionShare("2", "m--v2", 100)], [])]);
        var starting = Ray(App("2"));
        Assert.Equal(["m"], ServeLayoutMigration.Keep(cluster, [V2, gateway], starting));
        var halfway = Ray(App("2"), V2); // the gateway is not running yet
        Assert.Equal(["m"], ServeLayoutMigration.Keep(cluster, [V2, gateway], halfway));
        Assert.Empty(ServeLayoutMigration.Keep(cluster, [V2, gateway], Ray(App("2"), V2, gateway)));
        // and back: the gateway and version apps stay until the direct app runs
        Assert.Equal(["m--v2", "mlray-gateway"], ServeLayoutMigration.Keep(Cluster(TrafficMode.Direct), [App("2")], Ray(V2, gateway)).Order());
        Assert.Empty(ServeLayoutMigration.Keep(Cluster(TrafficMode.Direct), [App("2")], Ray(App("2"), V2, gateway)));
    }

    [Fact]
    public void A_foreign_app_at_the_gateways_route_makes_gateway_mode_refuse_naming_it()
    {
        var foreign = new JsonObject { ["name"] = "ui", ["route_prefix"] = "/", ["import_path"] = "ui:app" };
        var e = Assert.Throws<ServeLayoutException>(() => ServeLayoutMigration.CheckGatewayRoute(Cluster(), Ray(foreign)));
        Assert.Contains("'ui'", e.Message);
        ServeLayoutMigration.CheckGatewayRoute(Cluster(TrafficMode.Direct), Ray(foreign)); // direct mode does not need '/'
    }

    [Fact]
    public void Weights_move_as_user_config_only_the_gateways_other_fields_stay()
    {
        var a = Gateway(Plan(Rolling(0, 10, Now.AddSeconds(-30)), Ray(V1, V2)));
        var b = Gateway(Plan(Rolling(1, 50, Now.AddSeconds(-30)), Ray(V1, V2)));
        Assert.False(JsonNode.DeepEquals(a, b));
        a["deployments"]![0]!.AsObject().Remove("user_config");
        b["deployments"]![0]!.AsObject().Remove("user_config");
        Assert.True(JsonNode.DeepEquals(a, b));
    }

    private static AttemptPlan Command(AttemptState state, RolloutCommand command) =>
        AttemptPolicy.Plan(new DesiredState(Cluster(), [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12.11", [])], [App("2")]),
            [new AttemptPolicy.ModelFacts("m.staging", "2", "spec", state, ("1", App("1"))) { Command = command }],
            Ray(V1, V2), Now, new HashSet<string>(), () => "letter-1");

    [Fact]
    public void Operators_pause_resume_promote_and_abort_a_rollout()
    {
        var rolling = Rolling(0, 10, Now.AddSeconds(-30));
        var paused = Assert.Single(Command(rolling, RolloutCommand.Pause).Decisions);
        Assert.Equal((true, 10, true), (paused.State.Rollout!.Paused, paused.State.Rollout.Weight, paused.StateChanged));

        var resumed = Assert.Single(Command(paused.State, RolloutCommand.Resume).Decisions);
        Assert.Equal((false, Now, Now + Interval), (resumed.State.Rollout!.Paused, resumed.State.Rollout.Since, resumed.LookAgainAt!.Value));

        var promoted = Command(rolling, RolloutCommand.Promote);
        Assert.Equal((100, AttemptPhase.RollingOut), (Assert.Single(promoted.Decisions).State.Rollout!.Weight, Assert.Single(promoted.Decisions).Phase));
        Assert.Equal(new Dictionary<string, int> { ["1"] = 0, ["2"] = 100 }, Weights(promoted));

        var aborted = Command(rolling, RolloutCommand.Abort);
        var d = Assert.Single(aborted.Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, FailureClass.Rollout, "aborted by operator"), (d.Phase, d.Letter!.FailureClass, d.Letter.Message));
        Assert.Equal(new Dictionary<string, int> { ["1"] = 100 }, Weights(aborted));
    }

    private static AttemptPlan WithChallenger(AttemptState? challengerState, ServeInstance current, int weight = 20, double shadow = 0, SmokeVerdict? smoke = null)
    {
        var running = new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddHours(-1), SmokeTest = "passed 5 ms", Rollout = new RolloutState { Weight = 100, Done = true } };
        var desired = new DesiredState(Cluster(), [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12.11", [])], [App("2")])
        {
            Challengers = [new ChallengerApp(new ModelOutcome("m.staging", "3", ModelOutcomeKind.Selected, "m", "3.12.11", []), App("3"), weight, shadow)],
        };
        var facts = new AttemptPolicy.ModelFacts("m.staging", "2", "spec", running, null)
        {
            Challenger = new AttemptPolicy.ModelFacts("m.staging", "3", "spec", challengerState, null) { Smoke = smoke },
        };
        return AttemptPolicy.Plan(desired, [facts], current, Now, new HashSet<string>(), () => "letter-1");
    }

    private static readonly JsonObject V3 = GatewayLayout.VersionApp(App("3"));
    private static readonly AttemptState ChallengerTesting = new() { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-5), SmokeTest = AttemptState.SmokeTestPending };

    [Fact]
    public void A_challenger_joins_pinned_only_until_verified_then_takes_its_weight_beside_the_champion()
    {
        var joining = WithChallenger(null, Ray(V2));
        Assert.Equal(new Dictionary<string, int> { ["2"] = 100, ["3"] = 0 }, Weights(joining));
        Assert.Contains(joining.Applications, a => (string)a["name"]! == "m--v3");

        var verified = WithChallenger(ChallengerTesting, Ray(V2, V3), smoke: Passed);
        Assert.Equal(new Dictionary<string, int> { ["2"] = 80, ["3"] = 20 }, Weights(verified));
        var challenger = verified.Decisions.Single(d => d.Version == "3");
        Assert.Equal((AttemptPhase.Running, true), (challenger.Phase, challenger.Challenger));
        Assert.Contains("challenger beside version 2: 20 %", challenger.Message);
        Assert.Equal(AttemptPhase.Running, verified.Decisions.Single(d => d.Version == "2").Phase); // the champion is untouched
    }

    [Fact]
    public void A_shadow_challenger_gets_copies_and_no_share()
    {
        var verified = WithChallenger(ChallengerTesting, Ray(V2, V3), weight: 0, shadow: 0.25, smoke: Passed);
        var route = GatewayLayout.RoutesOf(Gateway(verified), "/").Single();
        Assert.Equal(new Dictionary<string, int> { ["2"] = 100 }, route.Versions.ToDictionary(v => v.Version, v => v.Weight));
        Assert.Equal(("3", "m--v3", 0.25), (route.Shadow.Single().Version, route.Shadow.Single().App, route.Shadow.Single().Fraction));
    }

    [Fact]
    public void A_challenger_failing_its_smoke_test_is_removed_and_never_rolls_the_champion_back()
    {
        var failed = WithChallenger(ChallengerTesting, Routing(["2"], V2, V3), smoke: SmokeVerdict.Judge(500, "text/plain", "boom", TimeSpan.Zero, "x"));
        Assert.Equal(AttemptPhase.WaitingToRetry, failed.Decisions.Single(d => d.Version == "3").Phase);
        Assert.DoesNotContain(failed.Applications, a => (string)a["name"]! == "m--v3");
        Assert.Equal(new Dictionary<string, int> { ["2"] = 100 }, Weights(failed));
        Assert.Equal(AttemptPhase.Running, failed.Decisions.Single(d => d.Version == "2").Phase);
    }

    [Fact]
    public void A_verified_version_runs_only_once_the_running_gateway_routes_to_it()
    {
        var testing = new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-5), SmokeTest = AttemptState.SmokeTestPending };
        var withoutRoute = Ray(V2);
        var table = GatewayLayout.GatewayApp(Cluster(), [new GatewayRoute("/m", "m.staging", [new VersionShare("2", "m--v2", 0)], [])]);
        var current = ServeInstance.Parse(new JsonObject { ["applications"] = new JsonObject { ["m--v2"] = Deployed(V2), [GatewayLayout.AppName] = Deployed(table) } });
        var d = Assert.Single(Plan(testing, current, lastGood: false, smoke: Passed).Decisions);
        Assert.Equal(AttemptPhase.Deploying, d.Phase); // the gateway still gives it 0 %
        Assert.Contains("waiting for the gateway", d.Message);
        Assert.Equal(Now.AddSeconds(1), d.LookAgainAt);
        Assert.Equal(AttemptPhase.Running, Assert.Single(Plan(d.State, withoutRoute, lastGood: false).Decisions).Phase);
    }
}
