using MLRay.Cli.Commands;
using MLRay.Cli.Demo;
using MLRay.Deploy;
using Spectre.Console;

namespace MLRay.Tests.Integration;

/// <summary>
/// <c>mlray demo</c>'s runner in this process (what the command runs, on a console writing to a string), so the test reads
/// its <see cref="DemoOutcome"/> as well as its screen. The demo uses the broker's default vhost: kept apart from tests that
/// stop the broker.
/// </summary>
[Collection("broker")]
public class DemoTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Demo_serves_two_models_explains_the_arm_failure_and_stops_a_broken_version_before_a_good_one_rolls_out(bool rabbitMq)
    {
        var dir = Path.Combine(Path.GetTempPath(), "mlray-demo-" + Guid.NewGuid().ToString("N"));
        var broker = rabbitMq
            ? Environment.GetEnvironmentVariable("RABBITMQ_URI") ?? throw new InvalidOperationException("RABBITMQ_URI is not set: run scripts/rabbitmq.sh start")
            : "amqp://guest:guest@127.0.0.1:1/";
        var screen = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(screen), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = CliConsole.PipedWidth;
        try
        {
            // Held open as `mlray demo` holds it until Enter: the console answers then, with the token the demo printed.
            Uri? overview = null;
            string? heldPage = null;
            async Task HoldOpen(CancellationToken ct)
            {
                var printed = System.Text.RegularExpressions.Regex.Match(screen.ToString(), @"ops console at (http://127\.0\.0\.1:\d+/ops/) \(token (\w+)\)");
                Assert.True(printed.Success, "no console address and token before the hold:\n" + screen);
                overview = new Uri(printed.Groups[1].Value);
                using var http = new HttpClient();
                http.DefaultRequestHeaders.Authorization = new("Bearer", printed.Groups[2].Value);
                heldPage = await http.GetStringAsync(overview, ct);
            }
            var outcome = await new DemoRunner(console, dir, TimeSpan.FromSeconds(0.2), new Uri(broker), HoldOpen).RunAsync();
            var stdout = screen.ToString();
            Assert.Contains("Press Enter to stop it.", stdout);
            Assert.Contains("iris_classifier-py39-catboost11.staging", heldPage);   // the overview, while held
            using (var after = new HttpClient())   // and once the hold ends, the stack is down
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => after.GetAsync(overview));
            Assert.True(DemoRunner.WentAsExpected(outcome), stdout);
            Assert.Contains(rabbitMq ? "Broker: RabbitMQ at" : "in-memory transport", stdout);
            Assert.Contains("No matching distribution found for catboost==1.1", stdout);
            var token = (await File.ReadAllTextAsync(Path.Combine(dir, "ops-token"))).Trim();
            Assert.Matches($@"Ops console at http://127\.0\.0\.1:\d+/ops/: log in with the token {token}", stdout);
            Assert.Contains("The wheel pre-flight had warned", stdout);
            if (rabbitMq)
            {
                // The second act: retried, dead-lettered, listed, replayed after the fix, RUNNING.
                Assert.Contains("failed 2 of 2 attempts; dead-lettered", stdout);
                Assert.Contains("ray-cluster-py39: 1 dead letter(s)", stdout);
                Assert.Contains("replayed 1 letter(s)", stdout);
                Assert.Contains("now RUNNING", stdout);
            }
            else Assert.Contains("second act", stdout);

            // The third act: the broken v2 is FAILED at its (pinned) smoke test and never answers the client, which v1 serves
            // throughout; the good v3 goes 10 → 50 → 100 % and serves alone; the client never sees a non-2xx.
            var act = Assert.IsType<GatewayActOutcome>(outcome.Gateway);
            Assert.Equal(DeployStatus.Failed, act.BadStatus);
            Assert.StartsWith("failed: HTTP 500", act.BadSmokeTest);
            Assert.Contains("KeyError: 'petal length (cm)'", act.BadSmokeTest);
            Assert.Equal(["1"], act.WhileBadWasTried.ByVersion.Keys);
            Assert.True(act.WhileBadWasTried is { Requests: > 0, Non2xx: 0 }, act.WhileBadWasTried.ToString());
            Assert.DoesNotContain(act.BadVersion, act.Client.ByVersion.Keys);
            if (rabbitMq)
            {
                Assert.NotNull(act.BadLetterId);
                Assert.Contains("purged 1 letter(s)", stdout);
            }
            Assert.Equal([10, 50, 100], act.GoodWeights);
            Assert.Equal(DeployStatus.Running, act.GoodStatus);
            Assert.True(act.RolloutTime < TimeSpan.FromSeconds(30), $"the rollout took {act.RolloutTime}");
            Assert.Equal(0, act.Client.Non2xx);
            Assert.Equal(["1", "3"], act.Client.ByVersion.Keys.Order());
            Assert.Equal(act.Client.Requests, act.Client.ByVersion.Values.Sum());
            Assert.Equal("3", outcome.Models["iris_classifier-py312-catboost12.staging"].Version);

            Assert.Contains("\"DeliveryId\"", File.ReadAllText(Path.Combine(dir, "pipeline.log")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
