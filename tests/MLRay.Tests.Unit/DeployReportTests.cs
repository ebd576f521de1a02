using MLRay.Deploy;
using MLRay.Serve;

namespace MLRay.Tests.Unit;

/// <summary>
/// <c>mlray deploy</c>'s verdict from the shared reconcile's decisions: a version the pipeline dead-lettered or waits to
/// retry fails the deploy (exit 1); only a letter that exists (not one this deploy merely decided on) is offered for replay.
/// </summary>
public class DeployReportTests
{
    private static readonly RayClusterConfig Cluster = new()
    {
        Name = "c312", PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray:8265"), MlflowTrackingUri = new("http://mlflow:5000"),
    };

    private static DeployReport Report(AttemptPhase phase, string? existingLetter, bool newLetter)
    {
        var state = new AttemptState { Spec = "s", Attempts = 3, DeadLetter = existingLetter };
        var letter = newLetter ? new DeadLetterDecision("new-id", FailureClass.Install, "pip failed", 3, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch) : null;
        var decision = new AttemptDecision("m.staging", "2", "m", phase, "why", state, false, letter, null, "1");
        var desired = new DesiredState(Cluster, [new ModelOutcome("m.staging", "2", ModelOutcomeKind.Selected, "m", "3.12", [])], []);
        var running = new AppResult("m", "m.staging", AppStatus.Running, AppOutcome.Running, "");
        return new DeployReport(desired, new ServePlan(new JsonObject { ["applications"] = new JsonArray() }, []), false, [running], null)
        {
            Decisions = [decision], ConfigPath = "config.yml",
        };
    }

    [Theory]
    [InlineData(AttemptPhase.Running, null, false, true, false)]
    [InlineData(AttemptPhase.Deploying, null, false, true, false)]
    [InlineData(AttemptPhase.WaitingToRetry, null, false, false, false)]
    [InlineData(AttemptPhase.DeadLettered, "letter-1", false, false, true)]       // the pipeline's letter: replay it
    [InlineData(AttemptPhase.DeadLettered, "new-id", true, false, false)]         // decided now, never written by the CLI
    public void A_deploy_succeeds_only_while_no_version_is_given_up_on_or_waiting(AttemptPhase phase, string? letter, bool decidedNow, bool succeeded, bool listedDeadLettered)
    {
        var report = Report(phase, letter, decidedNow);

        Assert.Equal(succeeded, report.Succeeded);
        Assert.Equal(listedDeadLettered, report.DeadLettered.Any());
        if (listedDeadLettered)
            Assert.Equal("mlray dlq replay config.yml c312 --id letter-1", report.ReplayCommand(report.DeadLettered.Single()));
    }
}
