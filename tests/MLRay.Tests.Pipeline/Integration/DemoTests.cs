namespace MLRay.Tests.Integration;

/// <summary>The demo uses the broker's default vhost: kept apart from tests that stop the broker.</summary>
[Collection("broker")]
public class DemoTests
{
    private static Task<(int ExitCode, string Stdout, string Stderr)> RunMlray(params string[] args) => Programs.RunMlray(args);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Demo_serves_two_models_through_webhooks_and_explains_the_arm_failure(bool rabbitMq)
    {
        var dir = Path.Combine(Path.GetTempPath(), "mlray-demo-" + Guid.NewGuid().ToString("N"));
        var broker = rabbitMq
            ? Environment.GetEnvironmentVariable("RABBITMQ_URI") ?? throw new InvalidOperationException("RABBITMQ_URI is not set: run scripts/rabbitmq.sh start")
            : "amqp://guest:guest@127.0.0.1:1/";
        try
        {
            var (code, stdout, stderr) = await RunMlray("demo", "--working-dir", dir, "--build-seconds", "0.2", "--rabbitmq", broker);
            Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
            Assert.Contains(rabbitMq ? "Broker: RabbitMQ at" : "in-memory transport", stdout);
            Assert.Contains("No matching distribution found for catboost==1.1", stdout);
            Assert.Contains("The wheel pre-flight had warned", stdout);
            Assert.Contains("Demo finished as expected", stdout);
            if (rabbitMq)
            {
                // The second act: retried, dead-lettered, listed, replayed after the fix, RUNNING.
                Assert.Contains("failed 2 of 2 attempts; dead-lettered", stdout);
                Assert.Contains("ray-cluster-py39: 1 dead letter(s)", stdout);
                Assert.Contains("replayed 1 letter(s)", stdout);
                Assert.Contains("now RUNNING", stdout);
            }
            else Assert.Contains("second act", stdout);
            Assert.Contains("\"DeliveryId\"", File.ReadAllText(Path.Combine(dir, "pipeline.log")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
