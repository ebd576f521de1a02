using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline;
using MLRay.Pipeline.Topology;
using MLRay.Tests.Broker;
using MLRay.Tests.Pipeline;
using Xunit.Abstractions;

namespace MLRay.Tests.Receiver;

/// <summary>
/// A broker that lost its definitions while the receiver runs (its vhost deleted and created again, as after a node
/// reset or a lost broker volume): the receiver re-declares its topology, with no restart.
/// </summary>
[Collection("broker")]
public class ReceiverTopologyRepairTests(RabbitMqBroker broker, ITestOutputHelper output)
{
    /// <summary>The words every repair's one Warning carries (TopologyRepair's log line).</summary>
    private const string RepairLogged = "lost its definitions";

    [Fact]
    public async Task Receiver_readyz_is_200_within_30_s_of_its_vhost_being_re_created_and_the_next_webhook_reaches_the_router_queue_without_a_restart()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        var log = new StringWriter();
        await world.StartReceiverAsync(registerWebhook: false, log: TextWriter.Synchronized(log));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await WaitForReadyz(http, world, HttpStatusCode.OK, seconds: 30, "ready at start");

        await LoseDefinitionsAsync(http, world);
        var recreated = Stopwatch.StartNew();
        await WaitForReadyz(http, world, HttpStatusCode.OK, seconds: 30, "ready again after the vhost was re-created");
        output.WriteLine($"ready {recreated.Elapsed.TotalSeconds:0.0} s after the vhost was re-created");

        var id = "after-repair-" + Guid.NewGuid().ToString("N")[..8];
        using var response = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!,
            PipelineWorld.ModelVersionCreated("iris_classifier-py312-catboost12.staging", "1"), id));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await AssertInRouterQueueAsync(world, [id]);
        // The probe met the missing exchange first and repaired it: one Warning.
        var warning = Assert.Single(RepairWarnings(log));
        output.WriteLine(warning);
        Assert.Contains("readiness probe: NOT_FOUND", warning);
    }

    [Fact]
    public async Task Webhooks_arriving_before_any_probe_after_the_vhost_is_re_created_are_queued_after_one_repair_within_their_requests()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        var log = new StringWriter();
        await world.StartReceiverAsync(registerWebhook: false, log: TextWriter.Synchronized(log));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await WaitForReadyz(http, world, HttpStatusCode.OK, seconds: 30, "ready at start");

        await LoseDefinitionsAsync(http, world);
        // Nothing probes /readyz from here: the publishes themselves meet the missing exchange (404 NOT_FOUND).
        var ids = Enumerable.Range(0, 16).Select(i => $"burst-{i:00}-{Guid.NewGuid():N}"[..16]).ToList();
        var answers = await Task.WhenAll(ids.Select(async id =>
        {
            using var response = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!,
                PipelineWorld.ModelVersionCreated("iris_classifier-py312-catboost12.staging", "1"), id));
            return (Id: id, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.All(answers, a => Assert.True(a.StatusCode == HttpStatusCode.Accepted, $"{a.Id}: {(int)a.StatusCode} {a.Body}"));
        await AssertInRouterQueueAsync(world, ids);
        // Sixteen requests met the missing topology at once: one re-declare, not sixteen.
        var warning = Assert.Single(RepairWarnings(log));
        output.WriteLine(warning);
        Assert.Contains("publish: NOT_FOUND", warning);
    }

    [Fact]
    public async Task A_repair_runs_once_for_every_caller_that_met_the_loss_and_at_most_once_per_interval_failed_attempts_included()
    {
        var vhost = await broker.CreateVhostAsync();   // empty: as a broker that lost its definitions
        var config = new MLRayConfig
        {
            WorkingDir = ".mlray",
            Mlflow = new MlflowSettings { TrackingUri = new Uri("http://127.0.0.1:9/") },
            Clusters = [],
            Pipeline = new PipelineSettings { RabbitMqUri = vhost },
        };
        var time = new FakeTimeProvider(ReceiverHost.Now);
        var log = new WarningLog();
        var repair = new TopologyRepair(config, new QueueReplication(null), time, log);

        // Eight callers met the loss before any repair: one declare, and every one of them is told to retry.
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => repair.RepairAsync(0, "test", CancellationToken.None)));
        Assert.All(answers, Assert.True);
        Assert.Equal(1, repair.Completed);
        Assert.Contains(PipelineTopology.RegistryChangesQueue, await broker.QueueNamesAsync(vhost.ToString()));
        Assert.Single(log.Warnings);

        // Lost again at once: within the interval nothing is declared (the caller answers 503); after it, it is.
        Assert.False(await repair.RepairAsync(1, "test", CancellationToken.None));
        Assert.Equal(1, repair.Completed);
        time.Advance(TopologyRepair.MinInterval);
        Assert.True(await repair.RepairAsync(1, "test", CancellationToken.None));
        Assert.Equal(2, repair.Completed);
        Assert.Equal(2, log.Warnings.Count);

        // A failed attempt (the vhost gone) is logged and rate-limited the same way: no declare storm against a broken broker.
        await broker.DeleteVhostAsync(vhost);
        time.Advance(TopologyRepair.MinInterval);
        Assert.False(await repair.RepairAsync(2, "test", CancellationToken.None));
        Assert.False(await repair.RepairAsync(2, "test", CancellationToken.None));
        Assert.Equal(2, repair.Completed);
        Assert.Equal(3, log.Warnings.Count);
        Assert.Contains("re-declaring them failed", log.Warnings[^1]);
    }

    /// <summary>Deletes the world's vhost, waits until the receiver has noticed (/readyz 503), then creates it again, empty.</summary>
    private async Task LoseDefinitionsAsync(HttpClient http, PipelineWorld world)
    {
        await broker.DeleteVhostAsync(world.BrokerUri);
        await WaitForReadyz(http, world, HttpStatusCode.ServiceUnavailable, seconds: 5, "unready, vhost deleted");
        await broker.RecreateVhostAsync(world.BrokerUri);
    }

    private static async Task WaitForReadyz(HttpClient http, PipelineWorld world, HttpStatusCode expected, int seconds, string what)
    {
        var last = "";
        HttpStatusCode Readyz()
        {
            try
            {
                using var response = http.GetAsync(new Uri(world.ReceiverUri!, "/readyz")).GetAwaiter().GetResult();
                last = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                return response.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { last = e.Message; return 0; }
        }
        try { await PipelineWorld.WaitUntil(() => Readyz() == expected, seconds, what); }
        catch (TimeoutException e) { Assert.Fail($"{e.Message}; last /readyz: {last}"); }
    }

    /// <summary>Each of <paramref name="ids"/> is a message in the router's queue (peeked, so it stays there).</summary>
    private async Task AssertInRouterQueueAsync(PipelineWorld world, IReadOnlyCollection<string> ids)
    {
        var queued = (await broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.RegistryChangesQueue, ids.Count + 10))
            .Select(m => m.Headers.GetValueOrDefault(PipelineTopology.DeliveryIdHeader)).ToHashSet();
        Assert.All(ids, id => Assert.Contains(id, queued));
    }

    /// <summary>The Warnings logged to it, rendered.</summary>
    private sealed class WarningLog : ILogger<TopologyRepair>
    {
        private readonly ConcurrentQueue<string> _warnings = new();
        public IReadOnlyList<string> Warnings => [.. _warnings];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel level) => true;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? error, Func<TState, Exception?, string> format)
        {
            if (level == LogLevel.Warning) _warnings.Enqueue(format(state, error));
        }
    }

    private static List<string> RepairWarnings(StringWriter log) =>
        log.ToString().Split('\n').Where(l => l.Contains(RepairLogged) && l.Contains("\"@l\":\"Warning\"")).ToList();
}
