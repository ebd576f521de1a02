using System.Collections.Concurrent;
using MLRay.Emulators.Seed;
using MLRay.Serve;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

namespace MLRay.Tests.Faults;

/// <summary>
/// Three worker hosts per cluster (each with its own service provider, as three processes would have) and 50 models
/// registered at once on each cluster, with a foreign app on each and the active host stopped half-way: invariant 3
/// (one writer per cluster) and 4 (foreign apps survive), checked on every PUT Ray recorded.
/// </summary>
[Trait("Category", "Fault")]
[Collection("broker")]
public class ConcurrentWritersFaultTests(RabbitMqBroker broker, ITestOutputHelper output)
{
    private static readonly string[] Clusters = ["ray-cluster-py312", "ray-cluster-py39"];

    [Fact]
    public Task Three_workers_per_cluster_and_50_models_at_once_never_drop_an_app_from_a_put_and_never_write_together() => RunAsync(stopHalfWay: false);

    /// <summary>
    /// The same with the active host stopped gracefully half-way (a rolling restart). MassTransit cancels the consumer
    /// before it finishes the batches it holds, so the standby is active while they run: the stopping worker reconciles no
    /// more of them and hands them over (ClusterHandover). Without that, two hosts reconciled the cluster at once.
    /// </summary>
    [Fact]
    public Task Stopping_the_active_worker_half_way_still_leaves_one_writer_at_a_time() => RunAsync(stopHalfWay: true);

    private async Task RunAsync(bool stopHalfWay)
    {
        const int models = 50;
        await using var world = await PipelineWorld.StartAsync(broker);
        var rays = new[] { world.Emulators.Ray312, world.Emulators.Ray39 };
        foreach (var ray in rays)
        {
            ray.Options.TotalCpus = 1_000; // 50 replicas × 0.5 CPU must fit, or Ray keeps them DEPLOYING
            // Someone else's app, deployed by hand before MLRay: every PUT must carry it unchanged.
            using var client = new RayDashboardClient(ray.BaseUri, TestHttp.Factory);
            await client.PutApplicationsAsync(JsonNode.Parse("""
                {"applications": [{"name": "hand-made", "route_prefix": "/hand-made", "import_path": "mlray_serve.app:build",
                  "args": {"model_uri": "models:/hand-made/1"}, "deployments": [{"name": "MLflowModel", "num_replicas": 1}]}]}
                """)!.AsObject());
        }
        var hosts = new List<Microsoft.Extensions.Hosting.IHost>();
        for (var i = 0; i < 3; i++) hosts.Add(await world.StartWorkerAsync(Clusters));
        // Each host's reconciles, start to end, per cluster: across hosts they must never overlap.
        var reconciles = new ConcurrentBag<(int Host, string Cluster, DateTimeOffset Start, DateTimeOffset End)>();
        for (var i = 0; i < hosts.Count; i++)
        {
            var host = i;
            PipelineWorld.Journal(hosts[i]).Recorded += a => reconciles.Add((host, a.Cluster, a.At, DateTimeOffset.UtcNow));
        }
        foreach (var ray in rays) ray.Options.ResponseDelay = TimeSpan.FromMilliseconds(50); // wider windows for a second writer
        await world.StartReceiverAsync();

        var names = Clusters.ToDictionary(c => c, c => Enumerable.Range(0, models).Select(i => $"{(c.EndsWith("py39") ? "py39" : "py312")}-load-{i:00}").ToList());
        var seed = new Dictionary<string, SeedModel> { [Clusters[0]] = SeedModels.All[0], [Clusters[1]] = SeedModels.All[1] };
        var random = new Random(50);
        var registrations = names.SelectMany(n => n.Value.Select(name => (Cluster: n.Key, Name: name))).OrderBy(_ => random.Next()).ToList();
        var half = registrations.Count / 2;
        await Parallel.ForEachAsync(registrations.Take(half), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (r, _) =>
        {
            // Spread over a few seconds, so that the reconciles of the burst overlap the registrations and each other's PUTs.
            await Task.Delay(Random.Shared.Next(0, 400));
            SeedModels.Register(world.Emulators.Mlflow, seed[r.Cluster] with { AppName = r.Name }, SeedModels.Tags(r.Name), "catboost==1.2.8\n");
        });
        // With stopHalfWay the host that is writing py312 goes away (a rolling restart) and a standby takes over.
        var stopped = -1;
        Task stopping = Task.CompletedTask;
        if (stopHalfWay)
        {
            await PipelineWorld.WaitUntil(() => reconciles.Any(r => r.Cluster == Clusters[0]), seconds: 60, what: "a py312 reconcile");
            stopped = reconciles.First(r => r.Cluster == Clusters[0]).Host;
            stopping = world.StopAsync(hosts[stopped]);
        }
        await Parallel.ForEachAsync(registrations.Skip(half), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (r, _) =>
        {
            // Spread over a few seconds, so that the reconciles of the burst overlap the registrations and each other's PUTs.
            await Task.Delay(Random.Shared.Next(0, 400));
            SeedModels.Register(world.Emulators.Mlflow, seed[r.Cluster] with { AppName = r.Name }, SeedModels.Tags(r.Name), "catboost==1.2.8\n");
        });
        await stopping;

        for (var c = 0; c < Clusters.Length; c++)
        {
            await FaultSuite.AssertExactStateAsync(world, rays[c], Clusters[c], names[Clusters[c]].ToDictionary(n => n, _ => "1"),
                seconds: 120, foreign: ["hand-made"]);
            var (dropped, last) = FaultSuite.AppsDroppedFromPuts(rays[c].PutBodies.Skip(1), foreign: "hand-made"); // the first PUT was the test's own
            Assert.True(dropped.Count == 0, $"{Clusters[c]}: {string.Join("; ", dropped.Take(10))}");
            Assert.Equal(models + 1, last.Count);
            var overlaps = FaultSuite.OverlappingPuts(rays[c]);
            Assert.True(overlaps.Count == 0, $"{Clusters[c]}: {string.Join("; ", overlaps.Take(5))}");
            var mine = reconciles.Where(r => r.Cluster == Clusters[c]).OrderBy(r => r.Start).ToList();
            var concurrent = mine.Zip(mine.Skip(1)).Where(p => p.First.Host != p.Second.Host && p.Second.Start < p.First.End).ToList();
            Assert.True(concurrent.Count == 0, $"{Clusters[c]}: reconciles of two hosts overlapped {concurrent.Count} times (host {stopped} was stopped): " +
                string.Join("; ", concurrent.Select(p => $"host {p.First.Host} {p.First.Start:HH:mm:ss.fff}–{p.First.End:HH:mm:ss.fff} and host {p.Second.Host} {p.Second.Start:HH:mm:ss.fff}–{p.Second.End:HH:mm:ss.fff}")));
        }
        await FaultSuite.AssertNothingDeadLetteredAsync(broker, world, Clusters);

        FaultSuite.Report(output, "3 workers per cluster", string.Join("; ", Clusters.Select((c, i) =>
            $"{c}: {models} models, {rays[i].PutCount - 1} PUTs by {reconciles.Where(r => r.Cluster == c).Select(r => r.Host).Distinct().Count()} host(s) in turn, " +
            $"{reconciles.Count(r => r.Cluster == c)} reconciles")) + (stopHalfWay ? $"; host {stopped} stopped half-way" : "") + "; no app dropped from any PUT, foreign app in all, 0 overlapping PUTs");
    }
}
