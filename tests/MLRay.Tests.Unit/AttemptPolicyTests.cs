using MLRay.Deploy;
using MLRay.Serve;

namespace MLRay.Tests.Unit;

/// <summary>The pure failure handling: attempts, nonces, rollback, dead letters, replays — no I/O.</summary>
public class AttemptPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);
    private static readonly RayClusterConfig Cluster = new()
    {
        Name = "c", PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray:8265"),
        MlflowTrackingUri = new("http://mlflow:5000"), DeployTimeout = TimeSpan.FromMinutes(10),
        Retry = new RetrySettings { Attempts = 3, Delays = [TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5)] },
        Serving = new ServingSettings { SmokeTest = SmokeTestMode.Off }, // install failures here; smoke tests in SmokeTestPolicyTests
    };

    private static JsonObject App(string version) => new()
    {
        ["name"] = "m", ["route_prefix"] = "/m", ["import_path"] = "mlray_serve.app:build",
        ["args"] = new JsonObject { ["model_uri"] = $"models:/m.staging/{version}", ["mlray_model"] = "m.staging", ["mlray_version"] = version },
        ["runtime_env"] = new JsonObject { ["pip"] = new JsonArray("catboost==1.1") },
    };

    private static ServeInstance Ray(JsonObject? deployed, string status = "RUNNING", string message = "") => ServeInstance.Parse(new JsonObject
    {
        ["applications"] = deployed is null ? new JsonObject() : new JsonObject
        {
            ["m"] = new JsonObject { ["status"] = status, ["message"] = message, ["deployed_app_config"] = deployed.DeepClone(), ["route_prefix"] = "/m" },
        },
    });

    private static DesiredState Desired(ModelOutcomeKind kind = ModelOutcomeKind.Selected) => new(Cluster,
        [new ModelOutcome("m.staging", "2", kind, kind == ModelOutcomeKind.Selected ? "m" : null, "3.12.11",
            kind == ModelOutcomeKind.Invalid ? ["tag 'ray.num_replicas' = 'two': not a whole number"] : [])],
        kind == ModelOutcomeKind.Selected ? [App("2")] : []);

    private static AttemptPlan Plan(AttemptState? state, ServeInstance current, bool lastGood = true, ModelOutcomeKind kind = ModelOutcomeKind.Selected,
        string spec = "spec", params string[] replays) =>
        AttemptPolicy.Plan(Desired(kind), [new AttemptPolicy.ModelFacts("m.staging", "2", spec, state, lastGood ? ("1", App("1")) : null)],
            current, Now, replays.ToHashSet(), () => "letter-1");

    private static string? Attempt(JsonObject app) => (string?)app["runtime_env"]?["env_vars"]?[AttemptPolicy.AttemptEnvVar];

    [Fact]
    public void A_new_version_is_attempted_once_as_it_is_and_looked_at_again_in_a_second()
    {
        var plan = Plan(null, Ray(App("1")));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.Deploying, 1, Now), (d.Phase, d.State.Attempts, d.State.StartedAt!.Value));
        Assert.True(JsonNode.DeepEquals(App("2"), Assert.Single(plan.Applications))); // no nonce on the first attempt
        Assert.Equal(Now.AddSeconds(1), d.LookAgainAt);
    }

    [Fact]
    public void An_attempt_ray_runs_is_running_and_changes_nothing()
    {
        var state = new AttemptState { Spec = "spec", Attempts = 2, StartedAt = Now.AddMinutes(-1) };
        var plan = Plan(state, Ray(AttemptPolicy.WithAttempt(App("2"), 2)));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.Running, false, (DateTimeOffset?)null), (d.Phase, d.StateChanged, d.LookAgainAt));
        Assert.Equal("2", Attempt(Assert.Single(plan.Applications)));
    }

    [Fact]
    public void A_failed_attempt_rolls_back_to_the_last_good_version_and_waits_for_the_configured_delay()
    {
        var state = new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-40) };
        var plan = Plan(state, Ray(App("2"), "DEPLOY_FAILED", "ERROR: No matching distribution found for catboost==1.1"));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal(AttemptPhase.WaitingToRetry, d.Phase);
        Assert.Equal(Now.AddMinutes(1), d.State.RetryAt);
        Assert.Equal((Now, Now), (d.State.FirstFailure!.Value, d.State.LastFailure!.Value));
        Assert.Contains("attempt 1 of 3 failed", d.Message);
        Assert.Contains("No matching distribution found for catboost==1.1", d.Message);
        Assert.Equal("1", d.ServedVersion);
        Assert.Equal("1", (string)Assert.Single(plan.Applications)["args"]!["mlray_version"]!);
        Assert.Null(d.Letter);
    }

    [Fact]
    public void A_due_retry_is_a_new_runtime_env_for_ray()
    {
        var state = new AttemptState { Spec = "spec", Attempts = 1, RetryAt = Now.AddSeconds(-1), FirstFailure = Now.AddMinutes(-1) };
        var plan = Plan(state, Ray(App("1")));
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.Deploying, 2, (DateTimeOffset?)null), (d.Phase, d.State.Attempts, d.State.RetryAt));
        Assert.Equal("2", Attempt(Assert.Single(plan.Applications)));
        Assert.Equal(Now.AddMinutes(-1), d.State.FirstFailure); // kept for the dead letter
    }

    [Fact]
    public void A_retry_not_yet_due_keeps_the_last_good_version_serving()
    {
        var state = new AttemptState { Spec = "spec", Attempts = 1, RetryAt = Now.AddMinutes(3) };
        var d = Assert.Single(Plan(state, Ray(App("1"))).Decisions);
        Assert.Equal((AttemptPhase.WaitingToRetry, Now.AddMinutes(3)), (d.Phase, d.LookAgainAt!.Value));
    }

    [Fact]
    public void The_last_attempt_failing_dead_letters_it_and_a_version_that_never_ran_is_removed()
    {
        var state = new AttemptState { Spec = "spec", Attempts = 3, StartedAt = Now.AddSeconds(-30), FirstFailure = Now.AddMinutes(-7) };
        var plan = Plan(state, Ray(AttemptPolicy.WithAttempt(App("2"), 3), "DEPLOY_FAILED", "pip failed"), lastGood: false);
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, "letter-1"), (d.Phase, d.State.DeadLetter));
        Assert.Equal(new DeadLetterDecision("letter-1", "install", "pip failed", 3, Now.AddMinutes(-7), Now), d.Letter);
        Assert.Empty(plan.Applications);
    }

    [Fact]
    public void Later_reconciles_while_waiting_or_after_giving_up_write_the_same_message_with_the_why()
    {
        ServeInstance Failing(int attempt) => Ray(AttemptPolicy.WithAttempt(App("2"), attempt), "DEPLOY_FAILED",
            "Runtime env setup failed:\nTraceback\n    ERROR: No matching distribution found for catboost==1.1\n");
        var waiting = Assert.Single(Plan(new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddSeconds(-40) }, Failing(1)).Decisions);
        var later = Assert.Single(Plan(waiting.State, Ray(App("1"))).Decisions);
        Assert.Equal((AttemptPhase.WaitingToRetry, waiting.Message, false), (later.Phase, later.Message, later.StateChanged));
        Assert.Contains("ERROR: No matching distribution found for catboost==1.1", later.Message);

        var dead = Assert.Single(Plan(new AttemptState { Spec = "spec", Attempts = 3, StartedAt = Now.AddSeconds(-40) }, Failing(3)).Decisions);
        var afterwards = Assert.Single(Plan(dead.State, Ray(App("1"))).Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, dead.Message, false), (afterwards.Phase, afterwards.Message, afterwards.StateChanged));
        Assert.StartsWith("failed 3 of 3 attempts; dead-lettered (mlray dlq replay once the cause is fixed): ", afterwards.Message);
        Assert.Contains("No matching distribution found for catboost==1.1", afterwards.Message);
        Assert.True(AttemptState.Parse(dead.State.ToJson())!.Error!.Length <= 2000); // within MLflow's 5,000-character tag values
    }

    [Fact]
    public void An_install_past_deploy_timeout_is_a_failed_attempt()
    {
        var state = new AttemptState { Spec = "spec", Attempts = 1, StartedAt = Now.AddMinutes(-11) };
        var d = Assert.Single(Plan(state, Ray(App("2"), "DEPLOYING", "waiting for a runtime env")).Decisions);
        Assert.Equal(AttemptPhase.WaitingToRetry, d.Phase);
        Assert.Contains("still DEPLOYING after 00:10:00 (deploy_timeout)", d.Message);
    }

    [Fact]
    public void A_dead_lettered_version_stays_stopped_until_replayed_or_its_tags_change()
    {
        var dead = new AttemptState { Spec = "spec", Attempts = 3, DeadLetter = "old-letter" };
        var stopped = Assert.Single(Plan(dead, Ray(App("1"))).Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, (DeadLetterDecision?)null, (DateTimeOffset?)null), (stopped.Phase, stopped.Letter, stopped.LookAgainAt));

        var replayed = Assert.Single(Plan(dead, Ray(App("1")), replays: "old-letter").Decisions);
        Assert.Equal((AttemptPhase.Deploying, 1, (string?)null), (replayed.Phase, replayed.State.Attempts, replayed.State.DeadLetter));

        Assert.Equal(AttemptPhase.DeadLettered, Assert.Single(Plan(dead, Ray(App("1")), replays: "another-letter").Decisions).Phase);
        Assert.Equal(AttemptPhase.Deploying, Assert.Single(Plan(dead, Ray(App("1")), spec: "new-tags").Decisions).Phase);
    }

    [Fact]
    public void An_invalid_model_is_dead_lettered_once_and_keeps_what_it_runs()
    {
        var plan = Plan(null, Ray(App("1")), kind: ModelOutcomeKind.Invalid);
        var d = Assert.Single(plan.Decisions);
        Assert.Equal(("permanent", 0), (d.Letter!.FailureClass, d.Letter.Attempts));
        Assert.Contains("ray.num_replicas", d.Letter.Message);
        Assert.Equal("letter-1", d.State.DeadLetter);

        // Later reconciles say it again, without a new letter or a changed state (nothing to publish or write).
        var again = Assert.Single(Plan(d.State, Ray(App("1")), kind: ModelOutcomeKind.Invalid).Decisions);
        Assert.Equal((AttemptPhase.DeadLettered, null, false, "letter-1"), (again.Phase, again.Letter, again.StateChanged, again.State.DeadLetter));
    }

    [Fact]
    public void The_attempt_state_round_trips_through_its_tag_and_an_edited_tag_starts_afresh()
    {
        var state = new AttemptState { Spec = "abc", Attempts = 2, RetryAt = Now, DeadLetter = "x" };
        Assert.Equal(state, AttemptState.Parse(state.ToJson()));
        Assert.Null(AttemptState.Parse("{not json"));
        Assert.NotEqual(AttemptState.SpecOf(new Dictionary<string, string> { ["ray.num_replicas"] = "1" }),
            AttemptState.SpecOf(new Dictionary<string, string> { ["ray.num_replicas"] = "2" }));
        Assert.Equal(AttemptState.SpecOf(new Dictionary<string, string> { ["ray.num_replicas"] = "1" }),
            AttemptState.SpecOf(new Dictionary<string, string> { ["ray.num_replicas"] = "1", ["mlray.c.status"] = "RUNNING", ["team"] = "x" }));
    }

    [Fact]
    public void A_model_without_ray_tags_is_pending_attempts_nothing_and_keeps_its_running_app()
    {
        var plan = Plan(null, Ray(App("1")), kind: ModelOutcomeKind.Pending);
        var d = Assert.Single(plan.Decisions);
        Assert.Equal((AttemptPhase.Pending, DesiredState.PendingMessage, false, (DeadLetterDecision?)null), (d.Phase, d.Message, d.StateChanged, d.Letter));
        Assert.Empty(plan.Applications);
        Assert.Contains("m.staging", plan.KeepAsIs);   // the planner carries the running app over unchanged
    }

    [Fact]
    public void A_dead_letter_outlives_a_changed_spec_and_is_removed_once_the_version_runs()
    {
        var dead = new AttemptState { Spec = "old", DeadLetter = "letter-0", FirstFailure = Now.AddHours(-1) };
        var retried = Assert.Single(Plan(dead, Ray(App("1")), spec: "new").Decisions);
        Assert.Equal((AttemptPhase.Deploying, "letter-0", (string?)null), (retried.Phase, retried.State.StaleDeadLetter, retried.RemoveLetter));

        var running = Assert.Single(Plan(retried.State, Ray(App("2")), spec: "new").Decisions);
        Assert.Equal((AttemptPhase.Running, "letter-0", (string?)null, true), (running.Phase, running.RemoveLetter, running.State.StaleDeadLetter, running.StateChanged));

        var replayed = Assert.Single(Plan(dead, Ray(App("1")), spec: "old", replays: "letter-0").Decisions);
        Assert.Null(replayed.State.StaleDeadLetter);   // a replay removes its own letter
    }
}
