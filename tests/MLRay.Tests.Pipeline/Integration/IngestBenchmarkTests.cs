using System.Text.RegularExpressions;
using MLRay.Bench;
using MLRay.Tests.Broker;

namespace MLRay.Tests.Integration;

/// <summary>
/// Issue 11's "the benchmark prints the ingest table with the ratio and RSS", at a tiny size (2 senders, 1 s a side,
/// 20 webhooks through the pipeline): the figures themselves are the README's, from full-size runs.
/// </summary>
[Collection("broker")]
public class IngestBenchmarkTests(RabbitMqBroker broker)
{
    [Fact]
    public async Task The_ingest_scenario_prints_rates_the_ratio_and_both_processes_peak_rss()
    {
        using var output = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        await IngestBenchmark.RunAsync(new IngestBenchmark.Settings([2], TimeSpan.FromSeconds(1), 20), broker.AmqpUri, output, timeout.Token);

        var text = output.ToString();
        Assert.Contains("| senders | bare publisher | p50 | p99 | receiver (2xx after confirm) | p50 | p99 | non-2xx | ratio | receiver CPU per webhook |", text);
        // bare rate, its p50/p99, receiver rate, its p50/p99, non-2xx (none here), ratio, CPU per webhook
        var row = Regex.Match(text, @"^\| 2 \| ([\d,]+)/s \| [\d.]+ ms \| [\d.]+ ms \| ([\d,]+)/s \| [\d.]+ ms \| [\d.]+ ms \| 0 \| (\d+\.\d\d) \| \d+ µs \|$", RegexOptions.Multiline);
        Assert.True(row.Success, text);
        Assert.True(double.Parse(row.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, text);
        Assert.Matches(@"webhooks accepted \| 20 \(0 non-2xx\)", text);
        Assert.Matches(@"peak RSS, mlray-receiver \(whole run\) \| \d+ MiB", text);
        Assert.Matches(@"peak RSS, mlray-worker \| \d+ MiB", text);
    }
}
