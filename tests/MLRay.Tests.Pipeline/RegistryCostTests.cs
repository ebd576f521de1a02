using Microsoft.Extensions.DependencyInjection;
using MLRay.Deploy;
using MLRay.Emulators.Seed;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Resync;
using MLRay.Pipeline.Workers;
using MLRay.Tests.Broker;

namespace MLRay.Tests.Pipeline;

/// <summary>
/// Issue 18: what the pipeline costs MLflow does not grow with the registry where it need not — held as request budgets
/// counted by the MLflow emulator, on a real RabbitMQ, with worker hosts that share nothing but the config (and so the
/// working directory's artifact cache, as processes on one host do).
/// </summary>
[Collection("broker")]
public class RegistryCostTests(RabbitMqBroker broker)
{
    private const string Py312 = "ray-cluster-py312";
    private const string Py39 = "ray-cluster-py39";
    private static readonly string[] BothClusters = [Py39, Py312];

    /// <summary>Every request that only reads (searches, gets, file downloads): MLRay's tag writes are not reads.</summary>
    private static int Reads(PipelineWorld world, int since) =>
        world.Emulators.Mlflow.RequestCounts(since).Where(kv => !kv.Key.Contains("tag", StringComparison.Ordinal)).Sum(kv => kv.Value);

    private static string Status(PipelineWorld world, string model, string cluster) =>
        world.Emulators.Mlflow.GetModelVersionTags($"{model}.staging", "1").GetValueOrDefault(MLRayTags.Key(cluster, MLRayTags.Status)) ?? "(none)";

    private static Task AllRunningAsync(PipelineWorld world, IEnumerable<(string Model, string Cluster)> models, int seconds = 90) =>
        PipelineWorld.WaitUntil(() => models.All(m => Status(world, m.Model, m.Cluster) == ModelStatus.Running), seconds,
            $"every version tagged RUNNING: {string.Join(", ", models.GroupBy(m => Status(world, m.Model, m.Cluster)).Select(g => $"{g.Key}×{g.Count()}"))}");

    /// <summary>Waits until MLflow has seen no request for <paramref name="quiet"/>: the reconciles that follow convergence are over.</summary>
    private static async Task QuietAsync(PipelineWorld world, TimeSpan quiet)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var (count, since) = (world.Emulators.Mlflow.Requests.Count, DateTime.UtcNow);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            if (world.Emulators.Mlflow.Requests.Count != count) (count, since) = (world.Emulators.Mlflow.Requests.Count, DateTime.UtcNow);
            else if (DateTime.UtcNow - since >= quiet) return;
        }
        throw new TimeoutException("MLflow never went quiet");
    }

    private async Task<PipelineWorld> WorldWithAsync(int py312Models, int py39Models = 0, string resyncInterval = "1h")
    {
        var world = await PipelineWorld.StartAsync(broker, resyncInterval);
        world.Emulators.Ray312.Options.TotalCpus = 10_000; // room for every app (half a CPU each)
        world.Emulators.Ray39.Options.TotalCpus = 10_000;
        for (var i = 0; i < py312Models; i++) SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], $"py312-model-{i:D4}");
        for (var i = 0; i < py39Models; i++) SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[1], $"py39-model-{i:D4}");
        return world;
    }

    private static IEnumerable<(string, string)> Models(int py312, int py39) =>
        Enumerable.Range(0, py312).Select(i => ($"py312-model-{i:D4}", Py312)).Concat(Enumerable.Range(0, py39).Select(i => ($"py39-model-{i:D4}", Py39)));

    /// <summary>The MLflow requests by endpoint of one resync of a warm, deployed registry of <paramref name="count"/> models.</summary>
    private async Task<IReadOnlyDictionary<string, int>> WarmResyncCostAsync(int count)
    {
        await using var world = await WorldWithAsync(count);
        var worker = await world.StartWorkerAsync(BothClusters);
        await world.StartReceiverAsync(); // its start-up resync deploys everything (cold)
        await AllRunningAsync(world, Models(count, 0));
        await QuietAsync(world, TimeSpan.FromSeconds(1.5));

        var before = world.Emulators.Mlflow.Requests.Count;
        var journal = PipelineWorld.Journal(worker);
        var entries = journal.Entries.Count;
        await world.ResyncAndWaitAsync(Py312);
        await PipelineWorld.WaitUntil(() => journal.Entries.Skip(entries).Any(e => e.Cluster == Py39 && e.Requests.Any(r => r.Reason == ResyncRequestedConsumer.Reason)),
            what: "the py39 cluster's sweep");
        await QuietAsync(world, TimeSpan.FromSeconds(1));

        // One sweep request per cluster, and no message per model (the router would have read each: registered-models/get).
        var sweeps = journal.Entries.Skip(entries).SelectMany(e => e.Requests.Select(r => (e.Cluster, r))).Where(x => x.r.Reason == ResyncRequestedConsumer.Reason).ToList();
        Assert.Equal(BothClusters.Order(), sweeps.Select(s => s.Cluster).Order());
        Assert.Single(sweeps, s => s.r.CensusCluster == s.Cluster);
        return world.Emulators.Mlflow.RequestCounts(before);
    }

    [Fact]
    public async Task One_resync_costs_the_same_mlflow_requests_with_10_models_as_with_1000_and_sends_no_message_per_model()
    {
        var small = await WarmResyncCostAsync(10);
        var large = await WarmResyncCostAsync(1000);

        Assert.Equal(small.OrderBy(kv => kv.Key), large.OrderBy(kv => kv.Key));
        // Each cluster's reconcile: one page of registered models and one of versions; nothing else (no get, no download, no tag).
        Assert.Equal(new Dictionary<string, int> { ["registered-models/search"] = 2, ["model-versions/search"] = 2 }.OrderBy(kv => kv.Key), large.OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task Two_receivers_ticking_every_2_s_cost_one_resync_per_interval()
    {
        await using var world = await PipelineWorld.StartAsync(broker, resyncInterval: "2s");
        var worker = await world.StartWorkerAsync(BothClusters);
        var clock = worker.Services.GetRequiredService<ResyncClock>();
        await world.StartReceiverAsync();
        await Task.Delay(700); // out of phase with the first
        await world.StartReceiverAsync();

        var start = clock.Counts;
        await Task.Delay(TimeSpan.FromSeconds(9));
        var (began, skipped) = (clock.Counts.Began - start.Began, clock.Counts.Skipped - start.Skipped);

        // 9 s at 2 s: 4 or 5 resyncs (one receiver's worth); each receiver ticked, so about as many were skipped.
        Assert.InRange(began, 4, 5);
        Assert.InRange(skipped, began - 1, began + 1);
    }

    [Fact]
    public async Task A_burst_of_200_registrations_costs_at_most_3_reconciles_and_2_puts()
    {
        await using var world = await WorldWithAsync(0);
        var worker = await world.StartWorkerAsync(BothClusters);
        await world.StartReceiverAsync();
        var journal = PipelineWorld.Journal(worker);
        await PipelineWorld.WaitUntil(() => journal.Entries.Any(e => e.Cluster == Py312 && e.Requests.Any(r => r.Reason == ResyncRequestedConsumer.Reason)),
            what: "the start-up resync swept py312");
        var (entries, puts) = (journal.Entries.Count, world.Emulators.Ray312.PutCount);

        for (var i = 0; i < 200; i++) SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], $"py312-model-{i:D4}");
        await AllRunningAsync(world, Models(200, 0));
        await QuietAsync(world, TimeSpan.FromSeconds(1.5));

        // The reconciles that answered the burst's webhooks (not the follow-up checks of the installs they started).
        string[] followUps = [WakeUpReason.Check, WakeUpReason.Retry, WakeUpReason.Transient];
        var burst = journal.Entries.Skip(entries).Where(e => e.Cluster == Py312).ToList();
        var requests = burst.SelectMany(e => e.Requests).Count(r => !followUps.Contains(r.Reason));
        var reconciles = burst.Count(e => e.Reconciled && e.Requests.Any(r => !followUps.Contains(r.Reason)));
        Assert.True(requests >= 200, $"only {requests} routed requests reached the worker");
        Assert.InRange(reconciles, 1, 3);
        Assert.InRange(world.Emulators.Ray312.PutCount - puts, 1, 2);
    }

    [Fact]
    public async Task A_cold_start_reads_at_most_6_mlflow_requests_per_model_with_two_worker_processes_and_a_router()
    {
        const int perCluster = 100;
        await using var world = await WorldWithAsync(perCluster, perCluster);
        // Three service providers (own memory caches, one working directory), as three processes on one host.
        await world.StartWorkerAsync([Py312], router: false);
        await world.StartWorkerAsync([Py39], router: false);
        await world.StartWorkerAsync([], router: true);
        await world.StartReceiverAsync(); // registered before the receiver: the start-up resync is all that deploys them

        await AllRunningAsync(world, Models(perCluster, perCluster), seconds: 120);
        await QuietAsync(world, TimeSpan.FromSeconds(1.5));

        var perModel = Reads(world, 0) / (2.0 * perCluster);
        Assert.True(perModel <= 6, $"{perModel:0.00} reads per model: {string.Join(", ", world.Emulators.Mlflow.RequestCounts().OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"))}");
    }
}
