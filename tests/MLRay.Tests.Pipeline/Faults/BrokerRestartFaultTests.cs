using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Threading.Channels;
using MLRay.Emulators.Seed;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

using static MLRay.Tests.Faults.FaultSuite;

namespace MLRay.Tests.Faults;

/// <summary>RabbitMQ's app stopped and started again (<c>rabbitmqctl stop_app</c> / <c>start_app</c>) in the middle of a webhook burst.</summary>
[Trait("Category", "Fault")]
[Collection("broker")]
public class BrokerRestartFaultTests(RabbitMqBroker broker, ITestOutputHelper output)
{
    [Fact]
    public async Task A_broker_restart_in_a_webhook_burst_loses_no_acknowledged_delivery_and_one_resync_leaves_the_cluster_exact()
    {
        var webhooks = FaultSuite.Size(300, 2000);
        var models = FaultSuite.Size(30, 200);
        var stoppedFor = TimeSpan.FromSeconds(FaultSuite.Size(2, 4)); // kept short: other builds on this machine share the broker
        var pace = TimeSpan.FromSeconds(FaultSuite.Size(10, 20)) / webhooks; // so the restart falls in the middle of the burst

        await using var world = await PipelineWorld.StartAsync(broker);
        world.Emulators.Ray312.Options.TotalCpus = 10_000;
        await world.StartReceiverAsync(registerWebhook: false); // the test is MLflow's sender: it sees every answer
        var worker = await world.StartWorkerAsync([Cluster]);
        var reconciled = FaultSuite.ReconciledDeliveries(Cluster, worker);
        var names = Enumerable.Range(0, models).Select(i => $"burst-{i:000}").ToArray();

        // Each webhook announces a new version of one of the models, registered just before it is sent.
        var latest = new ConcurrentDictionary<string, int>();
        var answers = new ConcurrentBag<(string Id, HttpStatusCode Status, bool RetryAfter)>();
        var items = Channel.CreateBounded<int>(64);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var senders = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            await foreach (var j in items.Reader.ReadAllAsync())
            {
                var name = names[j % models];
                string version;
                lock (names[j % models]) version = SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], name);
                latest.AddOrUpdate(name, int.Parse(version), (_, v) => Math.Max(v, int.Parse(version)));
                var id = Guid.NewGuid().ToString();
                using var response = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!,
                    PipelineWorld.ModelVersionCreated(name + ".staging", version), id));
                answers.Add((id, response.StatusCode, response.Headers.RetryAfter is not null));
            }
        })).ToArray();

        var clock = Stopwatch.StartNew();
        TimeSpan outageStart = default, outageEnd = default;
        var restart = Task.Run(async () =>
        {
            while (answers.Count < webhooks / 3) await Task.Delay(20);
            outageStart = clock.Elapsed;
            try
            {
                await broker.StopAppAsync();
                await Task.Delay(stoppedFor);
            }
            finally
            {
                await broker.StartAppAsync();
                outageEnd = clock.Elapsed;
            }
        });
        for (var j = 0; j < webhooks; j++)
        {
            await items.Writer.WriteAsync(j);
            await Task.Delay(pace);
        }
        items.Writer.Complete();
        await Task.WhenAll(senders);
        await restart;
        var sent = clock.Elapsed;

        var all = answers.ToList();
        var accepted = all.Where(a => (int)a.Status is >= 200 and < 300).ToList();
        var refused = all.Except(accepted).ToList();
        Assert.Equal(webhooks, all.Count);
        Assert.All(accepted, a => Assert.Equal(HttpStatusCode.Accepted, a.Status));
        // Everything not accepted is a 503 with Retry-After: MLflow retries those (a 4xx it would drop for good).
        Assert.All(refused, a => Assert.True(a.Status == HttpStatusCode.ServiceUnavailable && a.RetryAfter, $"{a.Id}: {(int)a.Status}"));
        Assert.NotEmpty(refused); // the restart did fall in the burst

        // Every acknowledged delivery reaches the cluster worker: none lost in the restart.
        try { await PipelineWorld.WaitUntil(() => accepted.All(a => reconciled.ContainsKey(a.Id)), seconds: FaultSuite.Size(60, 120), what: "every 202 reconciled"); }
        catch (TimeoutException)
        {
            var lost = accepted.Where(a => !reconciled.ContainsKey(a.Id)).Select(a => a.Id).ToList();
            Assert.Fail($"{lost.Count} of {accepted.Count} acknowledged deliveries never reached the worker, e.g. {string.Join(", ", lost.Take(5))}");
        }
        var processed = clock.Elapsed;

        // What the refused webhooks announced, one resync brings in: the cluster serves each model's latest version.
        await world.ResyncAndWaitAsync(Cluster);
        await FaultSuite.AssertExactStateAsync(world, world.Emulators.Ray312, Cluster,
            latest.ToDictionary(l => l.Key, l => l.Value.ToString()), seconds: FaultSuite.Size(60, 120));
        await FaultSuite.AssertNothingDeadLetteredAsync(broker, world, Cluster);

        FaultSuite.Report(output, "broker restart", $"{webhooks} webhooks over {sent.TotalSeconds:0.0} s for {models} models, " +
            $"broker down from {outageStart.TotalSeconds:0.0} s to {outageEnd.TotalSeconds:0.0} s (stop_app, {stoppedFor.TotalSeconds:0} s, start_app): " +
            $"{accepted.Count} answered 202, {refused.Count} answered 503 with Retry-After, 0 other; all 202s reconciled {processed.TotalSeconds:0.0} s after the first; " +
            $"{world.Emulators.Ray312.PutCount} PUTs; exact after one resync, 0 lost, 0 dead letters");
    }
}
