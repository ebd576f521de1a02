using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using MLRay.Emulators.Ray;
using MLRay.Pipeline;
using MLRay.Serve;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

namespace MLRay.Tests.Faults;

/// <summary>
/// What the fault tests share: their size (a short form for <c>scripts/test.sh</c>, the issue's full sizes with
/// <c>MLRAY_FAULTS=full</c>), their figures (test output, and <c>$MLRAY_FAULTS_REPORT</c> when set), and the checks
/// every one of them ends with: the cluster's exact state, no dead letter, nothing in an error queue.
/// </summary>
public static class FaultSuite
{
    /// <summary>The cluster the single-cluster fault tests break things around.</summary>
    public const string Cluster = "ray-cluster-py312";
    public const string SizeVariable = "MLRAY_FAULTS";
    public const string ReportVariable = "MLRAY_FAULTS_REPORT";

    /// <summary>True with <c>MLRAY_FAULTS=full</c>: 2,000 webhooks, 30 s outages.</summary>
    public static bool Full => string.Equals(Environment.GetEnvironmentVariable(SizeVariable), "full", StringComparison.OrdinalIgnoreCase);

    public static T Size<T>(T shortForm, T full) => Full ? full : shortForm;

    public static string Form => Full ? "full" : "short";

    /// <summary>One line of figures: in the test's output and appended to <c>$MLRAY_FAULTS_REPORT</c> (scripts/faults.sh prints it).</summary>
    public static void Report(ITestOutputHelper output, string test, string figures)
    {
        var line = $"{test} [{Form}]: {figures}";
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 } path)
            lock (typeof(FaultSuite)) File.AppendAllText(path, line + Environment.NewLine);
    }

    /// <summary>
    /// Every delivery id the cluster workers of <paramref name="hosts"/> reconciled (from each request of each batch), as
    /// they are recorded: the journal keeps only its last 1,000 entries, this keeps all.
    /// </summary>
    public static ConcurrentDictionary<string, byte> ReconciledDeliveries(string cluster, params IHost[] hosts)
    {
        var seen = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        foreach (var host in hosts)
            PipelineWorld.Journal(host).Recorded += activity =>
            {
                if (activity.Cluster != cluster) return;
                foreach (var id in activity.Requests.Select(r => r.DeliveryId).OfType<string>()) seen.TryAdd(id, 0);
            };
        return seen;
    }

    /// <summary>
    /// Waits until the MLRay apps on <paramref name="ray"/> are exactly <paramref name="expected"/> (app → version), each
    /// RUNNING in Ray, its version's <c>mlray.&lt;cluster&gt;.status</c> tag RUNNING, and every app in
    /// <paramref name="foreign"/> still there; fails with the difference when that does not happen in time.
    /// </summary>
    public static async Task AssertExactStateAsync(PipelineWorld world, RayDashboardEmulator ray, string cluster,
        IReadOnlyDictionary<string, string> expected, int seconds, IEnumerable<string>? foreign = null, string? rayToken = null)
    {
        using var client = new RayDashboardClient(ray.BaseUri, TestHttp.Factory, rayToken);
        var foreignApps = foreign?.ToList() ?? [];
        var problems = new List<string>();
        async Task<bool> Exact()
        {
            problems.Clear();
            var apps = (await client.GetApplicationsAsync()).Applications.Values.ToList();
            var owned = apps.Where(a => a.ManagedModel is not null).ToDictionary(a => a.Name);
            foreach (var (app, version) in expected)
            {
                if (!owned.TryGetValue(app, out var running)) { problems.Add($"{app}: missing"); continue; }
                if (running.ManagedVersion != version) problems.Add($"{app}: version {running.ManagedVersion}, expected {version}");
                if (running.Status != AppStatus.Running) problems.Add($"{app}: {running.Status}");
                var tag = world.Emulators.Mlflow.GetModelVersionTags(app + ".staging", version).GetValueOrDefault($"mlray.{cluster}.status");
                if (tag != "RUNNING") problems.Add($"{app}/{version}: status tag {tag ?? "(none)"}");
            }
            problems.AddRange(owned.Keys.Except(expected.Keys).Select(a => $"{a}: not expected"));
            problems.AddRange(foreignApps.Where(f => apps.All(a => a.Name != f)).Select(f => $"foreign app {f}: gone"));
            return problems.Count == 0;
        }
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await Exact())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{cluster} not in its exact state after {seconds} s ({problems.Count} problems): {string.Join("; ", problems.Take(20))}");
            await Task.Delay(250);
        }
    }

    /// <summary>No dead letter for <paramref name="clusters"/>, nothing parked as unroutable, nothing in any <c>_error</c> queue.</summary>
    public static async Task AssertNothingDeadLetteredAsync(RabbitMqBroker broker, PipelineWorld world, params string[] clusters)
    {
        var vhost = world.BrokerUri.ToString();
        // Peeked, not counted: the management API's message counts lag the broker by seconds, a peek does not.
        async Task AssertEmpty(string queue, string what) => Assert.True((await broker.PeekMessagesAsync(vhost, queue, 1)).Count == 0, what);
        foreach (var cluster in clusters)
            await AssertEmpty(PipelineTopology.DeadLetterQueue(cluster), $"{cluster} has dead letters");
        await AssertEmpty(PipelineTopology.UnroutableQueue, "models parked as unroutable");
        await AssertErrorQueuesEmptyAsync(broker, vhost);
    }

    /// <summary>Nothing in any of the vhost's <c>_error</c> queues (a consumer threw past its retries).</summary>
    public static async Task AssertErrorQueuesEmptyAsync(RabbitMqBroker broker, string vhost)
    {
        foreach (var queue in (await broker.QueueNamesAsync(vhost)).Where(q => q.EndsWith("_error", StringComparison.Ordinal)))
            Assert.True((await broker.PeekMessagesAsync(vhost, queue, 1)).Count == 0, $"messages in {queue}");
    }

    /// <summary>PUTs Ray accepted whose [arrival, answer] intervals overlap another PUT's: must be none (one writer at a time).</summary>
    public static IReadOnlyList<string> OverlappingPuts(RayDashboardEmulator ray)
    {
        var puts = ray.Requests.Where(r => r.Method == "PUT").OrderBy(r => r.At).ToList();
        return puts.Zip(puts.Skip(1)).Where(p => p.Second.At < p.First.AnsweredAt)
            .Select(p => $"PUT at {p.Second.At:HH:mm:ss.fff} began before the one at {p.First.At:HH:mm:ss.fff} was answered ({p.First.AnsweredAt:HH:mm:ss.fff})")
            .ToList();
    }

    /// <summary>
    /// PUT bodies in order: an MLRay app that an earlier PUT carried must be in each later one (the tests that use it only
    /// add models), and the foreign app <paramref name="foreign"/> in every one, as the first carried it. Returns the
    /// problems and the last PUT's app names.
    /// </summary>
    public static (IReadOnlyList<string> Problems, IReadOnlySet<string> Last) AppsDroppedFromPuts(IEnumerable<string> bodies, string? foreign = null)
    {
        var problems = new List<string>();
        var previous = new HashSet<string>();
        JsonNode? foreignConfig = null;
        var index = 0;
        foreach (var body in bodies)
        {
            index++;
            var apps = JsonNode.Parse(body)!["applications"]!.AsArray().ToDictionary(a => (string)a!["name"]!, a => a!);
            problems.AddRange(previous.Except(apps.Keys).Select(a => $"PUT {index} dropped {a}"));
            if (foreign is not null)
            {
                if (!apps.TryGetValue(foreign, out var sent)) problems.Add($"PUT {index} dropped the foreign app {foreign}");
                else if (foreignConfig is null) foreignConfig = sent;
                else if (!JsonNode.DeepEquals(sent, foreignConfig)) problems.Add($"PUT {index} changed the foreign app {foreign}");
            }
            previous = [.. apps.Keys];
        }
        return (problems, previous);
    }
}

/// <summary>Sums an <c>MLRay</c> meter counter in this process (e.g. <c>retries</c> with <c>class=transient</c>) while it lives.</summary>
public sealed class CounterProbe : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _total;

    public CounterProbe(string instrument, string tag, string value)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "MLRay" && i.Name == instrument) l.EnableMeasurementEvents(i);
        };
        _listener.SetMeasurementEventCallback<long>((_, measurement, tags, _) =>
        {
            foreach (var t in tags)
                if (t.Key == tag && Equals(t.Value as string, value)) Interlocked.Add(ref _total, measurement);
        });
        _listener.Start();
    }

    public long Total => Interlocked.Read(ref _total);

    public void Dispose() => _listener.Dispose();
}
