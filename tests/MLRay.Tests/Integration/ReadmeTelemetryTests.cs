using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using MLRay.Telemetry;
using MLRay.Tests.Receiver;

namespace MLRay.Tests.Integration;

/// <summary>The README's metrics table names every metric the hosts export (issue 8: "the README lists every metric").</summary>
public class ReadmeTelemetryTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));

    private static bool Listed(string metric) => Readme.Contains($"| `{metric}` |", StringComparison.Ordinal);

    [Fact]
    public void Every_instrument_of_the_MLRay_meter_is_in_the_readme_metrics_table()
    {
        _ = MLRayTelemetry.Source; // its instruments exist once the class is initialised
        var names = new List<string>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (i, _) =>
            {
                if (i.Meter.Name == MLRayTelemetry.Name) lock (names) names.Add(i.Name);
            };
            listener.Start(); // announces the instruments that already exist
        }

        Assert.NotEmpty(names);
        // prometheus-net's meter adapter: the meter's name as prefix, dots as underscores.
        var missing = names.Select(n => "mlray_" + n.Replace('.', '_')).Where(m => !Listed(m)).ToList();
        Assert.True(missing.Count == 0, $"not in the README's metrics table: {string.Join(", ", missing)}");
    }

    [Fact]
    public async Task Every_mlray_metric_family_a_receiver_exports_is_in_the_readme_metrics_table()
    {
        await using var host = await ReceiverHost.StartAsync();
        await host.PostAsync(MlflowSignatureTests.VectorBody); // so the webhook and publish series exist
        var families = Regex.Matches(await host.MetricsAsync(), @"^# TYPE (mlray_\w+) ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Distinct().ToList();

        Assert.Contains("mlray_webhooks_total", families);
        var missing = families.Where(f => !Listed(f)).ToList();
        Assert.True(missing.Count == 0, $"exported but not in the README's metrics table: {string.Join(", ", missing)}");
    }
}
