using MLRay.Bench;
using MLRay.Tests.Broker;

namespace MLRay.Tests.Integration;

/// <summary>
/// Issue 18's scale scenario at a tiny size (40 models over 2 clusters, real receiver and worker processes): it still runs
/// and prints every row with its target. The figures themselves are the README's, from the full-size run.
/// </summary>
[Collection("broker")]
public class ScaleBenchmarkTests(RabbitMqBroker broker)
{
    [Fact]
    public async Task The_scale_scenario_deploys_every_model_and_prints_each_figure_next_to_its_target()
    {
        using var output = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        await ScaleBenchmark.RunAsync(new ScaleBenchmark.Settings(40, 2), broker.AmqpUri, output, timeout.Token);

        var text = output.ToString();
        // The row is printed only once every model RUNS on its cluster (the benchmark waits for each cluster's count).
        Assert.Matches(@"\| cold start: launch → all 40 RUNNING \| [\d.]+ m?s \| < 2 min \| met \|", text);
        Assert.Matches(@"\| cold start: Ray PUTs per cluster \| ray-cluster-py39 \d+, ray-cluster-py310 \d+ \|", text);
        foreach (var cluster in new[] { "ray-cluster-py39", "ray-cluster-py310" })
        {
            Assert.Matches($@"\| warm reconcile {cluster}: registry requests \| \d+: .* \| ≤ 12 \| (met|\*\*missed\*\*) \|", text);
            Assert.Matches($@"\| warm reconcile {cluster}: time \(asked → reconciled\) \| .* \| < 2 s \|", text);
            Assert.Matches($@"\| peak RSS, mlray-worker {cluster} \| \d+ MB [^|]*\| < 300 MB \|", text);
        }
        Assert.Matches(@"\| one resync: MLflow requests per cluster \| [\d.,]+ .* \| ≤ 12 \|", text);
        Assert.Matches(@"\| one more registration \(40 deployed\) → its cluster's PUT \| \d+ ms .* \| < 1 s \|", text);
        Assert.Matches(@"\| peak RSS, mlray-receiver \| \d+ MB [^|]*\| < 200 MB \|", text);
    }
}
