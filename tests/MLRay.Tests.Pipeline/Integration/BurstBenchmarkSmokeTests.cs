namespace MLRay.Tests.Integration;

/// <summary>The benchmark's burst scenario through the broker (RABBITMQ_URI), at a tiny size.</summary>
public class BurstBenchmarkSmokeTests
{
    private static Task<(int ExitCode, string Stdout, string Stderr)> RunBench(params string[] args) =>
        Programs.RunProgram("mlray-bench.dll", args);

    [Fact]
    public async Task Burst_scenario_runs_through_the_broker_and_prints_its_figures()
    {
        var broker = Environment.GetEnvironmentVariable("RABBITMQ_URI")
            ?? throw new InvalidOperationException("RABBITMQ_URI is not set: run scripts/rabbitmq.sh start");
        var (code, stdout, stderr) = await RunBench("burst", "--burst", "5", "--rabbitmq", broker);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("| first registration → all 5 RUNNING |", stdout);
        Assert.Matches(@"\| PUTs for the burst \| [1-5] \|", stdout);
    }
}
