namespace MLRay.Tests.Integration;

/// <summary>
/// The benchmark still runs and prints its tables, at a tiny size (its figures are read by people, not asserted
/// here: speed targets live in the benchmark, not in timed tests).
/// </summary>
public class BenchmarkSmokeTests
{
    private static Task<(int ExitCode, string Stdout, string Stderr)> RunBench(params string[] args) =>
        Programs.RunProgram("mlray-bench.dll", args);

    [Fact]
    public async Task Reconcile_scenario_prints_a_row_per_run_with_the_request_counts()
    {
        var (code, stdout, stderr) = await RunBench("reconcile", "--models", "4");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("| 4 | cold |", stdout);
        Assert.Matches(@"\| 4 \| warm \| \d+ ms \| 2 \| model-versions/search 1, registered-models/search 1 \| 0 \| no \|", stdout);
    }
}
