using System.Collections.Concurrent;
using System.Diagnostics;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

using static MLRay.Tests.Faults.FaultSuite;

namespace MLRay.Tests.Faults;

/// <summary>
/// A broker that is a cluster loses a node: the three-node loopback cluster (<c>scripts/rabbitmq.sh cluster</c>), the receiver,
/// router and worker configured with all three URIs, and the node the receiver publishes through — which also leads the
/// router's queue — shut down in the middle of a webhook burst; then the node comes back and another one goes.
/// </summary>
[Trait("Category", "Fault")]
[Collection("broker-cluster")]
public class NodeLossFaultTests(RabbitMqCluster cluster, ITestOutputHelper output)
{
    private const string PublisherConnection = "mlray-receiver publisher";

    [Fact]
    public async Task Losing_a_cluster_node_in_a_webhook_burst_loses_no_acknowledged_delivery_and_the_workers_resume_within_10_s()
    {
        var perRound = FaultSuite.Size(150, 1000);
        var models = FaultSuite.Size(30, 200);
        var pace = TimeSpan.FromSeconds(FaultSuite.Size(12, 25)) / perRound; // the burst outlasts the node's shutdown

        // MLflow's own delivery: signed, retried after a 503 (Retry-After) or a refused connection, as MLflow does.
        await using var world = await PipelineWorld.StartAsync(cluster, mlflow: new MlflowEmulatorOptions { WebhookDeliveryWorkers = 16 });
        world.Emulators.Ray312.Options.TotalCpus = 10_000;
        Assert.Contains($"uris: [{string.Join(", ", cluster.NodeUris(world.BrokerUri))}]", await File.ReadAllTextAsync(world.ConfigPath));
        await world.StartReceiverAsync();
        var worker = await world.StartWorkerAsync([Cluster]);
        var vhost = world.BrokerUri.ToString();
        var reconciledAt = new ConcurrentDictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var reconciles = new ConcurrentQueue<DateTimeOffset>();
        PipelineWorld.Journal(worker).Recorded += activity =>
        {
            if (activity.Cluster != Cluster) return;
            reconciles.Enqueue(activity.At);
            foreach (var id in activity.Requests.Select(r => r.DeliveryId).OfType<string>()) reconciledAt.TryAdd(id, activity.At);
        };

        var names = Enumerable.Range(0, models).Select(i => $"node-loss-{i:000}").ToArray();
        var latest = new ConcurrentDictionary<string, int>();
        var registered = 0;
        var figures = new List<string>();
        var clock = Stopwatch.StartNew();

        for (var round = 1; round <= 2; round++)
        {
            // The node to lose: the one the receiver publishes through. Node order puts it, and the router queue's leader (the
            // node the topology was first declared on), on the first node listed; after a failover both have moved on.
            var receiverNode = await NodeOfAsync(vhost, PublisherConnection);
            var leader = await cluster.QueueLeaderAsync(vhost, PipelineTopology.RegistryChangesQueue);
            if (round == 1) Assert.Equal(cluster.NodeNames[1], receiverNode);
            if (round == 1) Assert.Equal(receiverNode, leader);
            var node = cluster.NodeNames.Single(n => n.Value == receiverNode).Key;
            var deliveriesBefore = world.Emulators.Mlflow.WebhookDeliveries.Count;

            var first = registered;
            var stopped = false;
            var sending = Task.Run(async () =>
            {
                for (var j = 0; j < perRound; j++)
                {
                    // The last quarter waits for the node to be gone: those webhooks can only be queued through another node.
                    while (j >= perRound * 3 / 4 && !Volatile.Read(ref stopped)) await Task.Delay(20);
                    var name = names[(first + j) % models];
                    var version = int.Parse(SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], name));
                    latest.AddOrUpdate(name, version, (_, v) => Math.Max(v, version));
                    Interlocked.Increment(ref registered);
                    await Task.Delay(pace);
                }
            });
            await PipelineWorld.WaitUntil(() => registered - first >= perRound / 4, what: "a quarter of the burst registered");
            var lostAt = DateTimeOffset.UtcNow;
            var stopping = Stopwatch.StartNew();
            await cluster.StopNodeAsync(node);
            var stopTook = stopping.Elapsed;
            var goneAt = DateTimeOffset.UtcNow;
            Volatile.Write(ref stopped, true);
            await sending;
            var sentAt = DateTimeOffset.UtcNow;
            await world.Emulators.Mlflow.WaitForWebhookDeliveriesAsync(TimeSpan.FromSeconds(90));

            // This round's registrations, as MLflow delivered them: the final answer of each, and how many tries it took.
            var deliveries = world.Emulators.Mlflow.WebhookDeliveries.Skip(deliveriesBefore).Where(d => d.Event == "model_version.created").ToList();
            Assert.Equal(perRound, deliveries.Count);
            var accepted = deliveries.Where(d => d.ResponseStatus is >= 200 and < 300).ToList();
            Assert.All(accepted, d => Assert.Equal(202, d.ResponseStatus));
            // Not accepted in the end: MLflow gave up on a 503 (the resync below covers those) — never a 4xx MLflow drops for good.
            var gaveUp = deliveries.Except(accepted).ToList();
            Assert.All(gaveUp, d => Assert.True(d.ResponseStatus == 503, $"{d.DeliveryId}: {d.ResponseStatus} {d.Error}"));
            // Every try before a delivery's last was answered non-2xx (a 503, or the connection refused): MLflow retried it.
            var refusedTries = deliveries.Sum(d => d.Attempts - 1) + gaveUp.Count;
            // The loss fell in the burst: webhooks were accepted before it, and after the node was gone (through another one).
            Assert.Contains(accepted, d => d.AnsweredAt < lostAt);
            Assert.Contains(accepted, d => d.StartedAt > goneAt);

            // Every acknowledged delivery reaches the cluster worker: none lost with the node.
            try { await PipelineWorld.WaitUntil(() => accepted.All(d => reconciledAt.ContainsKey(d.DeliveryId)), seconds: FaultSuite.Size(60, 120), what: "every 202 reconciled"); }
            catch (TimeoutException)
            {
                var lost = accepted.Where(d => !reconciledAt.ContainsKey(d.DeliveryId)).Select(d => d.DeliveryId).ToList();
                Assert.Fail($"round {round}: {lost.Count} of {accepted.Count} acknowledged deliveries never reached the worker, e.g. {string.Join(", ", lost.Take(5))}");
            }

            // The workers resume: registrations go on all through the node's loss, so the worker reconciles every moment it can;
            // the longest pause between two reconciles from the loss to the burst's end is how long the node's loss stopped it.
            var times = reconciles.Where(t => t >= lostAt && t <= sentAt).Prepend(lostAt).Append(sentAt).Order().ToList();
            var afterLoss = accepted.Count(d => d.StartedAt > goneAt);
            var resume = times.Zip(times.Skip(1), (a, b) => b - a).Max();
            Assert.True(resume <= TimeSpan.FromSeconds(10), $"round {round}: the worker reconciled nothing for {resume.TotalSeconds:0.0} s after the node was lost (bound: 10 s)");
            var processed = clock.Elapsed;

            figures.Add($"round {round}: lost {receiverNode} (the receiver's node; leader of {PipelineTopology.RegistryChangesQueue}: {leader}), shutdown took {stopTook.TotalSeconds:0.0} s; " +
                $"{perRound} webhooks: {accepted.Count} answered 202 ({afterLoss} sent after the node was gone, {accepted.Count(d => d.Attempts > 1)} after a retry), {refusedTries} answers non-2xx " +
                $"(503 or refused), {gaveUp.Count} given up by MLflow; longest pause of the worker {resume.TotalSeconds:0.0} s; " +
                $"all 202s reconciled by {processed.TotalSeconds:0.0} s");
            output.WriteLine(figures[^1]);

            figures[^1] += $"; the receiver went on through {await NodeOfAsync(vhost, PublisherConnection)}";
            var restarting = Stopwatch.StartNew();
            await cluster.StartNodeAsync(node);
            figures[^1] += $"; {receiverNode} back in {restarting.Elapsed.TotalSeconds:0.0} s";
        }

        // What MLflow gave up on, one resync brings in: the cluster serves each model's latest version.
        await world.ResyncAndWaitAsync(Cluster);
        await FaultSuite.AssertExactStateAsync(world, world.Emulators.Ray312, Cluster,
            latest.ToDictionary(l => l.Key, l => l.Value.ToString()), seconds: FaultSuite.Size(60, 120));
        await FaultSuite.AssertNothingDeadLetteredAsync(cluster, world, Cluster);

        FaultSuite.Report(output, "node loss", $"3-node cluster, {models} models, {registered} webhooks in 2 rounds — " + string.Join(" — ", figures) +
            $" — exact after one resync ({latest.Count} models RUNNING), 0 lost, 0 dead letters, {world.Emulators.Ray312.PutCount} PUTs, {clock.Elapsed.TotalSeconds:0} s in all");
    }

    /// <summary>The node the named client connection is on, once the management API lists exactly one such connection.</summary>
    private async Task<string> NodeOfAsync(string vhost, string connection)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var nodes = (await cluster.ConnectionsAsync(vhost)).Where(c => c.Name == connection).Select(c => c.Node).ToList();
            if (nodes.Count == 1) return nodes[0];
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not one '{connection}' connection listed within 30 s: {nodes.Count}");
            await Task.Delay(250);
        }
    }
}
