using MLRay.Emulators.Seed;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

using static MLRay.Tests.Faults.FaultSuite;

namespace MLRay.Tests.Faults;

/// <summary>SIGKILL of the active <c>mlray-worker</c> process while it deploys; a hot standby process takes over.</summary>
[Trait("Category", "Fault")]
[Collection("broker")]
public class WorkerKillFaultTests(RabbitMqBroker broker, ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_the_active_worker_mid_deploy_hands_over_to_the_standby_within_10_seconds_and_the_state_is_exact()
    {
        var perWave = FaultSuite.Size(5, 20);
        await using var world = await PipelineWorld.StartAsync(broker);
        var ray = world.Emulators.Ray312;
        ray.Options.TotalCpus = 1_000;
        ray.Options.BuildTime = TimeSpan.FromSeconds(2); // installs in flight when the worker dies
        await world.StartWorkerAsync([], router: true);  // the router in this process; the cluster's workers are real processes
        await world.StartReceiverAsync();

        using var active = WorkerProcess.Start(world.ConfigPath, [Cluster]);
        await active.WaitReadyAsync(); // the only consumer, so the active one (single active consumer)
        using var standby = WorkerProcess.Start(world.ConfigPath, [Cluster]);
        await standby.WaitReadyAsync();

        var expected = new Dictionary<string, string>();
        void Wave(int wave)
        {
            foreach (var name in Enumerable.Range(0, perWave).Select(i => $"kill-{wave}-{i:00}"))
                expected[name] = SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], name);
        }

        Wave(0);
        await PipelineWorld.WaitUntil(() => ray.PutCount >= 1, seconds: 60, what: "first wave applied");
        // The second wave's reconcile: Ray answers slowly, so the kill lands between its GET and its PUT, or in the PUT.
        ray.Options.ResponseDelay = TimeSpan.FromSeconds(1);
        var requestsBefore = ray.Requests.Count;
        Wave(1);
        await PipelineWorld.WaitUntil(() => ray.Requests.Skip(requestsBefore).Any(r => r.Method == "GET"), seconds: 60, what: "second wave's reconcile under way");
        active.Kill();
        var killedAt = active.KilledAt!.Value;
        ray.Options.ResponseDelay = TimeSpan.Zero;
        Wave(2); // arrives while the standby takes over

        // The standby's first request to Ray (the killed process sends nothing more): the takeover.
        await PipelineWorld.WaitUntil(() => ray.Requests.Any(r => r.At > killedAt), seconds: 30, what: "the standby reached Ray");
        var takeover = ray.Requests.Where(r => r.At > killedAt).Min(r => r.At) - killedAt;
        Assert.True(takeover < TimeSpan.FromSeconds(10), $"the standby took over {takeover.TotalSeconds:0.0} s after the SIGKILL");

        await FaultSuite.AssertExactStateAsync(world, ray, Cluster, expected, seconds: 90);
        await FaultSuite.AssertNothingDeadLetteredAsync(broker, world, Cluster);
        var inFlight = ray.Requests.Where(r => r.At < killedAt && r.AnsweredAt >= killedAt).Select(r => $"{r.Method} {r.Status}").ToList();
        FaultSuite.Report(output, "SIGKILL of the active worker", $"{3 * perWave} models in 3 waves, builds 2 s; killed with " +
            $"{(inFlight.Count == 0 ? "no Ray request open" : "Ray request(s) open: " + string.Join(", ", inFlight))}; standby's first Ray request " +
            $"{takeover.TotalMilliseconds:0} ms after the kill; {ray.PutCount} PUTs; exact, 0 dead letters");
    }
}
