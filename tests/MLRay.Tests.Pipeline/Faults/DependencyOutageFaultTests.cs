using System.Diagnostics;
using MLRay.Emulators.Seed;
using MLRay.Http;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

using static MLRay.Tests.Faults.FaultSuite;

namespace MLRay.Tests.Faults;

/// <summary>
/// Ray's dashboard, then MLflow, failing for a stretch (30 s in the full form) while models are registered: afterwards
/// every model is deployed, and nothing was dead-lettered or left in an error queue.
/// </summary>
[Trait("Category", "Fault")]
[Collection("broker")]
public class DependencyOutageFaultTests(RabbitMqBroker broker, ITestOutputHelper output)
{
    /// <summary>One stretch of an outage: what is switched on for how long.</summary>
    private sealed record Phase(string Name, TimeSpan Length, Action On, Action Off);

    private static TimeSpan Outage => TimeSpan.FromSeconds(FaultSuite.Size(9, 30));

    [Fact]
    public async Task Ray_answering_5xx_dropping_connections_and_timing_out_delays_deploys_but_dead_letters_nothing()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        var ray = world.Emulators.Ray312.Options;
        // For the whole outage one fault is armed at a time, the next as soon as a request met it: a reconcile's GET answered
        // 503 (as often as the client retries it), its PUT answered 500, connections dropped (as often as retried), and a
        // request never answered (the client's attempt timeout, 30 s, ends it).
        (string Name, Action Arm, Func<bool> Armed)[] faults =
        [
            ("GET 503", () => ray.FailNextGets = MLRayHttpClients.MaxRetries + 1, () => ray.FailNextGets > 0),
            ("PUT 500", () => ray.FailNextPuts = 1, () => ray.FailNextPuts > 0),
            ("dropped", () => ray.DropNextRequests = MLRayHttpClients.MaxRetries + 1, () => ray.DropNextRequests > 0),
            ("timeout", () => ray.TimeOutNextRequests = 1, () => ray.TimeOutNextRequests > 0),
        ];
        if (!FaultSuite.Full) faults = faults[..^1]; // a timeout holds the worker for the clients' 30 s attempt timeout: full form only
        using var over = new CancellationTokenSource();
        async Task RotateAsync()
        {
            for (var k = 0; !over.IsCancellationRequested; k++)
            {
                faults[k % faults.Length].Arm();
                while (faults[k % faults.Length].Armed() && !over.IsCancellationRequested) await Task.Delay(5);
            }
            ray.FailNextGets = ray.FailNextPuts = ray.DropNextRequests = ray.TimeOutNextRequests = 0;
        }
        Task? rotation = null;
        Phase[] phases = [new("rotating faults", Outage, () => rotation = Task.Run(RotateAsync), () => { over.Cancel(); rotation?.Wait(); })];

        var (figures, transient) = await OutageAsync(world, phases);
        var requests = world.Emulators.Ray312.Requests;
        FaultSuite.Report(output, "Ray outage", $"{Outage.TotalSeconds:0} s: Ray answered {requests.Count(r => r.Status == 503)} × 503 (GET), " +
            $"{requests.Count(r => r.Status == 500)} × 500 (PUT), dropped {requests.Count(r => r.Status == 0 && r.AnsweredAt - r.At < TimeSpan.FromSeconds(5))} connections, " +
            $"{requests.Count(r => r.Status == 0 && r.AnsweredAt - r.At >= TimeSpan.FromSeconds(5))} requests timed out (unanswered for 30 s); {transient} reconciles tried again; {figures}");
        // Each kind of fault was met, and the worker tried again after the ones that failed a reconcile.
        Assert.True(requests.Any(r => r.Status == 503) && requests.Any(r => r.Status == 500), "5xx met");
        Assert.True(requests.Any(r => r.Status == 0 && r.AnsweredAt - r.At < TimeSpan.FromSeconds(5)), "a dropped connection met");
        if (FaultSuite.Full) Assert.True(requests.Any(r => r.Status == 0 && r.AnsweredAt - r.At >= TimeSpan.FromSeconds(25)), "a timeout met");
        Assert.True(transient > 0, "no reconcile was tried again: the outage never failed one");
    }

    [Fact]
    public async Task MLflow_answering_503_delays_deploys_but_dead_letters_nothing()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        var faults = world.Emulators.Mlflow.Faults;
        var (figures, transient) = await OutageAsync(world,
            [new Phase("MLflow 503", Outage, () => faults.FailNext = int.MaxValue, () => faults.FailNext = 0)]);
        var refused = world.Emulators.Mlflow.Requests.Count(r => r.Status == 503);
        FaultSuite.Report(output, "MLflow outage", $"{Outage.TotalSeconds:0} s: MLflow answered {refused} × 503; {transient} reconciles tried again; {figures}");
        Assert.True(refused > 0, "the outage was seen");
    }

    /// <summary>
    /// Half the models deployed before, the other half registered (and one model's tag changed) during the outage;
    /// the cluster exact afterwards, nothing dead-lettered. Returns the figures and the transient retries counted.
    /// </summary>
    private async Task<(string Figures, long TransientRetries)> OutageAsync(PipelineWorld world, IReadOnlyList<Phase> phases)
    {
        var before = FaultSuite.Size(4, 10);
        var during = FaultSuite.Size(4, 10);
        var ray = world.Emulators.Ray312;
        ray.Options.TotalCpus = 1_000;
        using var retries = new CounterProbe("retries", "class", "transient");
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([Cluster]);

        var expected = new Dictionary<string, string>();
        foreach (var name in Enumerable.Range(0, before).Select(i => $"before-{i:00}"))
            expected[name] = SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], name);
        await FaultSuite.AssertExactStateAsync(world, ray, Cluster, expected, seconds: 60);

        var clock = Stopwatch.StartNew();
        var late = Enumerable.Range(0, during).Select(i => $"during-{i:00}").ToList();
        var registrations = Task.Run(async () =>
        {
            // Spread over the outage's first half: webhooks and the router meet the fault too.
            foreach (var name in late)
            {
                lock (expected) expected[name] = SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], name);
                await Task.Delay(Outage / 2 / during);
            }
            world.Emulators.Mlflow.SetModelVersionTag("before-00.staging", expected["before-00"], "ray.num_replicas", "2");
        });
        foreach (var phase in phases)
        {
            phase.On();
            try { await Task.Delay(phase.Length); }
            finally { phase.Off(); }
        }
        await registrations;
        var outage = clock.Elapsed;

        await FaultSuite.AssertExactStateAsync(world, ray, Cluster, expected, seconds: 150);
        var recovered = clock.Elapsed;
        using (var client = new MLRay.Serve.RayDashboardClient(ray.BaseUri, TestHttp.Factory))
        {
            var app = (await client.GetApplicationsAsync()).Applications["before-00"];
            Assert.Equal(2, (int)app.DeployedAppConfig!["deployments"]![0]!["num_replicas"]!); // the change made during the outage
        }
        await FaultSuite.AssertNothingDeadLetteredAsync(broker, world, Cluster);
        return ($"{before} models deployed before, {during} registered and 1 tag changed during it; all {before + during} RUNNING " +
                $"{(recovered - outage).TotalSeconds:0.0} s after it ended; {ray.PutCount} PUTs; 0 dead letters, 0 in error queues", retries.Total);
    }
}
