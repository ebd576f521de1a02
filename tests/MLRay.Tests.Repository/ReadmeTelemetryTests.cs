using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Topology;
using MLRay.Receiver.Ops;
using MLRay.Receiver.Webhooks;
using MLRay.Telemetry;

namespace MLRay.Tests.Integration;

/// <summary>The README's metrics table names every metric the hosts export (issue 8: "the README lists every metric").</summary>
public class ReadmeTelemetryTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));

    private static bool Listed(string metric) => Readme.Contains($"| `{metric}` |", StringComparison.Ordinal);

    [Fact]
    public void The_readme_metrics_table_lists_exactly_the_instruments_of_the_MLRay_meter_the_worker_and_the_receiver_make()
    {
        _ = MLRayTelemetry.Source; // its instruments exist once the class is initialised
        // The receiver's own instruments, on a container's meter as a receiver makes them.
        using var services = new ServiceCollection().AddMetrics().AddLogging().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        _ = new WebhookMetrics(meters);
        _ = new DeadLetterMetrics(meters, new DeadLetterStore(RabbitMqEndpoint.Parse(new Uri("amqp://127.0.0.1:9/"))), ["c"], TimeProvider.System,
            services.GetRequiredService<ILogger<DeadLetterMetrics>>());
        var names = new HashSet<string>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (i, _) =>
            {
                if (i.Meter.Name == MLRayTelemetry.Name) lock (names) names.Add(i.Name);
            };
            listener.Start(); // announces the instruments that already exist
        }

        // The exporter's names (MLRayMetrics): the meter's name as prefix, dots as underscores, nothing appended.
        var exported = names.Select(n => "mlray_" + n.Replace('.', '_')).ToHashSet();
        var listed = Regex.Matches(Readme, @"^\| `(mlray_\w+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Contains("mlray_reconciles", exported);
        Assert.Contains("mlray_dead_letters_queued", exported);
        Assert.True(exported.SetEquals(listed), $"not in the README's metrics table: {string.Join(", ", exported.Except(listed))}; " +
                                                 $"in it but not made: {string.Join(", ", listed.Except(exported))}");
    }

    [Fact]
    public async Task Every_mlray_metric_family_a_receiver_exports_is_in_the_readme_metrics_table()
    {
        await using var host = await ReceiverHost.StartAsync();
        await host.PostAsync(MlflowTestVector.VectorBody); // so the webhook and publish series exist
        var families = Regex.Matches(await host.MetricsAsync(), @"^# TYPE (mlray_\w+) ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Distinct().ToList();

        Assert.Contains("mlray_webhooks_total", families);
        var missing = families.Where(f => !Listed(f)).ToList();
        Assert.True(missing.Count == 0, $"exported but not in the README's metrics table: {string.Join(", ", missing)}");
    }
}
