using MLRay.Deploy;
using MLRay.Serve;
using MLRay.Verify;

namespace MLRay.Tests.Unit;

/// <summary>The smoke test in the pure core: when one is due, what its verdict does to the attempt, and how an answer is judged.</summary>
public class SmokeTestPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);

    private static RayClusterConfig Cluster(SmokeTestMode mode = SmokeTestMode.WhenExample) => new()
    {
        Name = "c", PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray:8265"),
        MlflowTrackingUri = new("http://mlflow:5000"),
        Retry = new RetrySettings { Attempts = 2, Delays = [TimeSpan.FromMinutes(1)] },
        Serving = new ServingSettings { SmokeTest = mode },
    };

    private static JsonObject App(string version) => new()
    {
        ["name"] = "m", ["route_prefix"] = "/m", ["import_path"] = "mlray_serve.app:build",
        ["args"] = new JsonObject { ["model_uri"] = $"models:/m.staging/{version}", ["mlray_model"] = "m.staging", ["mlray_version"] = version },
    };

    private static ServeInstance Ray(JsonObject deployed, string status = "RUNNING") => ServeInstance.Parse(new JsonObject
    {
        ["applications"] = new JsonObject
        {
            ["m"] = new JsonObject { ["status"] = status, ["message"] = "", ["deployed_app_config"] = deployed.DeepClone(), ["route_prefix"] = "/m" },
        },
    });

    private static AttemptPolicy.ModelFacts Facts(AttemptState? state, SmokeVerdict? smoke = null) =>
        new("m.staging", "2", "spec", state, ("1", App("1"))) { Smoke = smoke };

    private static AttemptPlan Plan(AttemptPolicy.ModelFacts facts, ServeInstance current, SmokeTestMode mode = SmokeTestMode.WhenExample) =>
        AttemptPolicy.Plan(new DesiredState(Cluster(mode), [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12.11", [])], [App("2")]),
            [facts], current, Now, new HashSet<string>(), () => "letter-1");

    private static readonly AttemptState Testing = new() { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-5), SmokeTest = AttemptState.SmokeTestPending };
    private static readonly SmokeVerdict Http500 = SmokeVerdict.Judge(500, "application/json", "{\"error_code\": \"BAD_REQUEST\", \"message\": \"KeyError: 'petal length (cm)'\"}",
        TimeSpan.FromMilliseconds(8), "serving_input_example.json");

    [Theory]
    [InlineData(SmokeTestMode.WhenExample, AttemptState.SmokeTestPending)]
    [InlineData(SmokeTestMode.Required, AttemptState.SmokeTestPending)]
    [InlineData(SmokeTestMode.Off, null)]
    public void A_new_attempt_waits_for_its_smoke_test_unless_the_cluster_tests_nothing(SmokeTestMode mode, string? expected)
    {
        var d = Assert.Single(Plan(Facts(null), Ray(App("1")), mode).Decisions);
        Assert.Equal((AttemptPhase.Deploying, expected), (d.Phase, d.State.SmokeTest));
    }

    [Fact]
    public void A_test_is_due_only_once_ray_runs_exactly_the_attempt_that_waits_for_it()
    {
        Assert.True(AttemptPolicy.AwaitsSmokeTest(Cluster(), Facts(Testing), App("2"), Ray(App("2"))));
        Assert.False(AttemptPolicy.AwaitsSmokeTest(Cluster(), Facts(Testing), App("2"), Ray(App("2"), "DEPLOYING")));
        Assert.False(AttemptPolicy.AwaitsSmokeTest(Cluster(), Facts(Testing), App("2"), Ray(App("1")))); // the old version still runs
        Assert.False(AttemptPolicy.AwaitsSmokeTest(Cluster(), Facts(Testing with { SmokeTest = "passed 3 ms" }), App("2"), Ray(App("2"))));
        Assert.False(AttemptPolicy.AwaitsSmokeTest(Cluster(), Facts(Testing with { SmokeTest = null }), App("2"), Ray(App("2")))); // older state: never tested
    }

    [Fact]
    public void Running_without_a_verdict_yet_is_still_deploying_and_looked_at_again_at_once()
    {
        var d = Assert.Single(Plan(Facts(Testing), Ray(App("2"))).Decisions);
        Assert.Equal(AttemptPhase.Deploying, d.Phase);
        Assert.Contains("smoke test next", d.Message);
        Assert.Equal(Now.AddSeconds(1), d.LookAgainAt);
    }

    [Theory]
    [InlineData("passed")]
    [InlineData("skipped")]
    public void A_passed_or_skipped_test_lets_the_version_run_and_keeps_the_verdict(string outcome)
    {
        var verdict = outcome == "passed" ? SmokeVerdict.Judge(200, "application/json", "{\"predictions\": [[1]]}", TimeSpan.FromMilliseconds(41), "x") : SmokeVerdict.Skipped;
        var plan = Plan(Facts(Testing, verdict), Ray(App("2")));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.Running, true, verdict.Text), (d.Phase, d.StateChanged, d.State.SmokeTest));
        Assert.Equal(outcome == "passed" ? "passed 41 ms" : "skipped: no serving input example", d.State.SmokeTest);
        Assert.Equal("2", (string)Assert.Single(plan.Applications)["args"]!["mlray_version"]!);
    }

    [Fact]
    public void A_failed_test_rolls_back_to_the_last_good_version_and_retries_like_a_failed_install()
    {
        var plan = Plan(Facts(Testing, Http500), Ray(App("2")));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.WaitingToRetry, "1"), (d.Phase, d.ServedVersion));
        Assert.Equal("1", (string)Assert.Single(plan.Applications)["args"]!["mlray_version"]!);
        Assert.Contains("smoke test failed: HTTP 500", d.Message);
        Assert.Contains("KeyError", d.Message);
        Assert.StartsWith("failed: HTTP 500", d.State.SmokeTest);
    }

    [Fact]
    public void The_last_attempt_failing_its_test_is_dead_lettered_as_verify_with_the_status_and_the_body()
    {
        var last = Testing with { Attempts = 2, FirstFailure = Now.AddMinutes(-2) };
        var d = Assert.Single(Plan(Facts(last, Http500), Ray(AttemptPolicy.WithAttempt(App("2"), 2))).Decisions);
        Assert.Equal(AttemptPhase.DeadLettered, d.Phase);
        Assert.Equal(FailureClass.Verify, d.Letter!.FailureClass);
        Assert.Contains("HTTP 500", d.Letter.Message);
        Assert.Contains("KeyError: 'petal length (cm)'", d.Letter.Message);
        Assert.Contains("serving_input_example.json", d.Letter.Message);
    }

    [Fact]
    public void A_required_example_that_is_missing_is_dead_lettered_at_once_naming_the_file()
    {
        var plan = Plan(Facts(Testing, SmokeVerdict.Missing("serving_input_example.json")), Ray(App("2")), SmokeTestMode.Required);
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, FailureClass.Permanent, 1), (d.Phase, d.Letter!.FailureClass, d.State.Attempts));
        Assert.Contains("serving_input_example.json", d.Letter.Message);
        Assert.Equal("1", (string)Assert.Single(plan.Applications)["args"]!["mlray_version"]!); // the last good version serves
    }

    [Theory]
    [InlineData(200, "{\"predictions\": [0, 1]}", "passed 41 ms")]
    [InlineData(500, "Traceback (most recent call last):\n  ValueError: boom", "failed: HTTP 500 Traceback (most recent call last):   ValueError: boom (sent serving_input_example.json)")]
    [InlineData(200, "<html>oops</html>", "failed: HTTP 200 with a body that is not JSON (text/html): <html>oops</html> (sent serving_input_example.json)")]
    [InlineData(200, "{\"result\": [0]}", "failed: HTTP 200 without \"predictions\": {\"result\": [0]} (sent serving_input_example.json)")]
    [InlineData(200, "[0, 1]", "failed: HTTP 200 without \"predictions\": [0, 1] (sent serving_input_example.json)")]
    public void An_answer_passes_only_as_200_with_a_json_object_holding_predictions(int status, string body, string expected)
    {
        var media = body.StartsWith('<') ? "text/html" : "application/json";
        Assert.Equal(expected, SmokeVerdict.Judge(status, media, body, TimeSpan.FromMilliseconds(41.2), "serving_input_example.json").Text);
    }

    [Fact]
    public void A_long_failing_body_is_cut_to_its_start()
    {
        var verdict = SmokeVerdict.Judge(502, "text/plain", new string('x', 5000), TimeSpan.Zero, "f");
        Assert.True(verdict.Text.Length < SmokeVerdict.BodyStart + 60, verdict.Text);
        Assert.Contains("…", verdict.Text);
    }
}
