using System.Net;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Pipeline.Messages;
using MLRay.Serve;
using MLRay.Tests.Broker;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace MLRay.Tests.Pipeline;

/// <summary>Webhook → receiver → RabbitMQ → router → cluster worker → Ray, and the status tags back on MLflow.</summary>
[Collection("broker")]
public class PipelineTests(RabbitMqBroker broker)
{
    private static readonly string[] BothClusters = ["ray-cluster-py39", "ray-cluster-py312"];

    private static Dictionary<string, string> Tags(PipelineWorld world, string model, string version = "1") =>
        world.Emulators.Mlflow.GetModelVersionTags(model, version).ToDictionary();

    [Fact]
    public async Task Registering_the_seed_models_ends_with_them_served_and_tagged()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        var worker = await world.StartWorkerAsync(BothClusters);

        world.Emulators.RegisterSeed();

        const string py312 = "iris_classifier-py312-catboost12.staging", py39 = "iris_classifier-py39-catboost12.staging", arm = "iris_classifier-py39-catboost11.staging";
        await PipelineWorld.WaitUntil(() =>
            Tags(world, py312).GetValueOrDefault("mlray.ray-cluster-py312.status") == "RUNNING"
            && Tags(world, py39).GetValueOrDefault("mlray.ray-cluster-py39.status") == "RUNNING"
            && Tags(world, arm).GetValueOrDefault("mlray.ray-cluster-py39.status") == "FAILED", what: "status tags");

        Assert.Contains("No matching distribution found for catboost==1.1", Tags(world, arm)["mlray.ray-cluster-py39.message"]);
        Assert.EndsWith("/iris_classifier-py312-catboost12", Tags(world, py312)["mlray.ray-cluster-py312.endpoint"]);
        Assert.True(DateTimeOffset.TryParse(Tags(world, py312)["mlray.ray-cluster-py312.updated_at"], out _));
        Assert.DoesNotContain(Tags(world, py312).Keys, k => k.StartsWith("mlray.ray-cluster-py39."));
        Assert.Equal(["iris_classifier-py312-catboost12"],
            (await new RayDashboardClient(world.Emulators.Ray312.BaseUri, TestHttp.Factory).GetApplicationsAsync()).Applications.Keys);
        // MLRay's own tag writes came back as webhooks and were ignored: none reached a worker.
        await world.Emulators.Mlflow.WaitForWebhookDeliveriesAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(1000);
        Assert.Contains(world.Emulators.Mlflow.WebhookDeliveries, d => d.Event == "model_version_tag.set" && d.ResponseStatus == 200);
        Assert.DoesNotContain(PipelineWorld.Journal(worker).Entries.SelectMany(e => e.Requests), r => r.Reason == "model_version_tag.set");
    }

    [Fact]
    public async Task A_py39_model_never_reaches_the_py312_queue()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        var worker = await world.StartWorkerAsync(BothClusters);
        await world.StartReceiverAsync();
        world.Emulators.RegisterSeed();

        // Requests routed by Python version (the "all" sweeps for models with nothing to serve go everywhere by design).
        var journal = PipelineWorld.Journal(worker);
        List<string> Routed(string cluster) => journal.Entries.Where(e => e.Cluster == cluster).SelectMany(e => e.Requests)
            .Where(r => r.RoutingKey != PipelineTopology.BroadcastKey).Select(r => r.RegisteredModel).OfType<string>().ToList();
        await PipelineWorld.WaitUntil(() => Routed("ray-cluster-py312").Contains("iris_classifier-py312-catboost12.staging")
                                            && Routed("ray-cluster-py39").Contains("iris_classifier-py39-catboost12.staging")
                                            && Routed("ray-cluster-py39").Contains("iris_classifier-py39-catboost11.staging"), what: "routed requests");
        await Task.Delay(500);

        Assert.DoesNotContain(Routed("ray-cluster-py312"), m => m.Contains("py39"));
        Assert.DoesNotContain(Routed("ray-cluster-py39"), m => m.Contains("py312"));
        Assert.All(journal.Entries.Where(e => e.Cluster == "ray-cluster-py312").SelectMany(e => e.Requests),
            r => Assert.True(r.RoutingKey is "all" || r.RoutingKey.StartsWith("3.12."), r.RoutingKey));
    }

    [Fact]
    public async Task A_python_with_no_cluster_is_parked_as_unroutable_with_its_reason()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartWorkerAsync(BothClusters);
        await world.StartReceiverAsync();

        var py310 = SeedModels.All[0] with { AppName = "iris-py310", PythonVersion = "3.10.4" };
        SeedModels.Register(world.Emulators.Mlflow, py310, SeedModels.Tags("iris-py310"), "catboost==1.2.8\n");

        IReadOnlyList<(string Body, IReadOnlyDictionary<string, string> Headers)> parked = [];
        await PipelineWorld.WaitUntil(() =>
        {
            parked = broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.UnroutableQueue, 10).GetAwaiter().GetResult();
            return parked.Any(p => p.Body.Contains("iris-py310.staging"));
        }, what: "unroutable message");
        var message = parked.First(p => p.Body.Contains("iris-py310.staging"));
        Assert.Contains("no Ray cluster for Python 3.10.4", message.Headers[PipelineTopology.ReasonHeader]);
        Assert.Equal(0, world.Emulators.Ray39.PutCount + world.Emulators.Ray312.PutCount);
    }

    [Fact]
    public async Task A_model_whose_python_env_yaml_crashes_the_parser_is_parked_and_its_healthy_neighbour_runs()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartWorkerAsync(BothClusters);
        await world.StartReceiverAsync();

        var broken = SeedModels.All[1] with { AppName = "broken-py39" };
        SeedModels.Register(world.Emulators.Mlflow, broken, SeedModels.Tags(broken.AppName), "catboost==1.2.8\n",
            new Dictionary<string, string?> { ["python_env.yaml"] = DeployWorld.CrashingPythonEnv });
        const string neighbour = "iris_classifier-py39-catboost12.staging";
        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[1]);

        await PipelineWorld.WaitUntil(() => Tags(world, neighbour).GetValueOrDefault("mlray.ray-cluster-py39.status") == "RUNNING",
            what: "the healthy py39 neighbour RUNNING");
        IReadOnlyList<(string Body, IReadOnlyDictionary<string, string> Headers)> parked = [];
        await PipelineWorld.WaitUntil(() =>
        {
            parked = broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.UnroutableQueue, 20).GetAwaiter().GetResult();
            return parked.Any(p => p.Body.Contains("broken-py39.staging"));
        }, what: "the broken model parked as unroutable");

        var reason = parked.First(p => p.Body.Contains("broken-py39.staging")).Headers[PipelineTopology.ReasonHeader];
        Assert.Contains("model 'broken-py39.staging' version 1: python_env.yaml: is not valid YAML", reason);
        // Reported on the version too, by the cluster whose reconcile read it.
        await PipelineWorld.WaitUntil(() => Tags(world, broken.RegisteredName).GetValueOrDefault("mlray.ray-cluster-py39.status") == "FAILED",
            what: "the broken model's FAILED tag");
        Assert.Contains("python_env.yaml", Tags(world, broken.RegisteredName)["mlray.ray-cluster-py39.message"]);
        Assert.Equal(["iris_classifier-py39-catboost12"],
            (await new RayDashboardClient(world.Emulators.Ray39.BaseUri, TestHttp.Factory).GetApplicationsAsync()).Applications.Keys);
        // Neither the router's nor the cluster's reconcile failed: nothing reached an error queue.
        Assert.Empty(await broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.ErrorQueue(PipelineTopology.RegistryChangesQueue), 10));
        Assert.Empty(await broker.PeekMessagesAsync(world.BrokerUri.ToString(),
            PipelineTopology.ErrorQueue(PipelineTopology.ClusterQueue("ray-cluster-py39")), 10));
    }

    [Fact]
    public async Task A_cluster_queues_error_queue_is_browsable_through_the_management_api()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartWorkerAsync(["ray-cluster-py312"], router: false);

        // A delivery no consumer can read fails at once, without retries: MassTransit moves it to the error queue.
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = world.BrokerUri };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.BasicPublishAsync(PipelineTopology.DeployExchange, PipelineTopology.BroadcastKey, mandatory: false,
                new RabbitMQ.Client.BasicProperties { ContentType = "application/vnd.masstransit+json", MessageId = Guid.NewGuid().ToString() },
                System.Text.Encoding.UTF8.GetBytes("{\"message\": not-json"));

        var errorQueue = PipelineTopology.ErrorQueue(PipelineTopology.ClusterQueue("ray-cluster-py312"));
        IReadOnlyList<(string Body, IReadOnlyDictionary<string, string> Headers)> failed = [];
        // Peeking a single-active-consumer queue is refused (405 RESOURCE_LOCKED), which fails the peek itself.
        await PipelineWorld.WaitUntil(() =>
        {
            failed = broker.PeekMessagesAsync(world.BrokerUri.ToString(), errorQueue, 10).GetAwaiter().GetResult();
            return failed.Count > 0;
        }, what: "the undeserializable delivery in " + errorQueue);
        Assert.Contains("not-json", failed[0].Body);
        Assert.Contains(failed[0].Headers.Keys, k => k.StartsWith("MT-Fault-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_duplicate_delivery_makes_no_second_put()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartWorkerAsync(BothClusters);
        await world.StartReceiverAsync(registerWebhook: false);
        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]);
        using var http = new HttpClient();
        var body = PipelineWorld.ModelVersionCreated("iris_classifier-py312-catboost12.staging", "1");
        var id = Guid.NewGuid().ToString();

        var first = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!, body, id));
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        await PipelineWorld.WaitUntil(() => world.Emulators.Ray312.PutCount == 1, what: "first PUT");
        var second = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!, body, id));
        Assert.True(second.IsSuccessStatusCode);
        // A different delivery of the same change is processed, and still makes no PUT: the cluster already matches.
        Assert.Equal(HttpStatusCode.Accepted, (await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!, body))).StatusCode);
        await Task.Delay(2000);
        Assert.Equal(1, world.Emulators.Ray312.PutCount);
    }

    [Fact]
    public async Task A_tampered_body_is_refused_and_nothing_is_queued_and_a_stale_one_is_a_400()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync(registerWebhook: false);
        using var http = new HttpClient();
        var body = PipelineWorld.ModelVersionCreated("x.staging", "1");
        var request = PipelineWorld.SignedWebhook(world.ReceiverUri!, body);
        request.Content = new StringContent(body.Replace("\"1\"", "\"2\""), System.Text.Encoding.UTF8, "application/json");

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(request)).StatusCode);
        var stale = PipelineWorld.SignedWebhook(world.ReceiverUri!, body, timestamp: DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 301);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(stale)).StatusCode);
        // No router runs here, so anything the receiver had queued would still be in the router's queue (peeking is
        // immediate; the management API's counts lag).
        await Task.Delay(500);
        Assert.DoesNotContain(await broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.RegistryChangesQueue, 50),
            m => m.Body.Contains("x.staging"));
    }

    [Fact]
    public async Task A_webhook_no_queue_would_take_is_a_503_not_a_silent_drop()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        var receiver = await world.StartReceiverAsync(registerWebhook: false);
        using var http = new HttpClient();
        await using var connection = await new RabbitMQ.Client.ConnectionFactory { Uri = world.BrokerUri }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeleteAsync(PipelineTopology.RegistryChangesQueue, ifUnused: false, ifEmpty: false);
        var body = PipelineWorld.ModelVersionCreated("iris_classifier-py312-catboost12.staging", "1");
        // Why the receiver does not publish through the bus: MassTransit's publish is confirmed and the message is gone.
        await receiver.Services.GetRequiredService<IBus>().Publish(
            new RegistryChanged { RegisteredModel = "lost.staging", Reason = "model_version.created" });

        var lost = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!, body, "no-queue"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, lost.StatusCode); // mandatory publish: the broker returned it, MLflow retries

        await channel.QueueDeclareAsync(PipelineTopology.RegistryChangesQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        await channel.QueueBindAsync(PipelineTopology.RegistryChangesQueue, PipelineTopology.RegistryChangedExchange, "");
        var retried = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!, body, "no-queue"));
        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        var queued = Assert.Single(await broker.PeekMessagesAsync(world.BrokerUri.ToString(), PipelineTopology.RegistryChangesQueue, 10));
        Assert.Equal("no-queue", queued.Headers[PipelineTopology.DeliveryIdHeader]);
    }

    [Fact]
    public async Task Readyz_turns_unready_within_5_seconds_of_losing_the_broker_and_ready_again_when_it_is_back()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync(registerWebhook: false);
        using var http = new HttpClient();
        async Task<HttpStatusCode> Ready() => (await http.GetAsync(new Uri(world.ReceiverUri!, "/readyz"))).StatusCode;
        await PipelineWorld.WaitUntil(() => Ready().GetAwaiter().GetResult() == HttpStatusCode.OK, what: "ready at start");

        try
        {
            await broker.StopAppAsync();
            await PipelineWorld.WaitUntil(() => Ready().GetAwaiter().GetResult() == HttpStatusCode.ServiceUnavailable, seconds: 5, what: "unready, broker stopped");
        }
        finally
        {
            await broker.StartAppAsync();
        }
        await PipelineWorld.WaitUntil(() => Ready().GetAwaiter().GetResult() == HttpStatusCode.OK, seconds: 60, what: "ready again");

        await broker.DeleteVhostAsync(world.BrokerUri);
        await PipelineWorld.WaitUntil(() => Ready().GetAwaiter().GetResult() == HttpStatusCode.ServiceUnavailable, seconds: 5, what: "unready, vhost deleted");
        var detail = await (await http.GetAsync(new Uri(world.ReceiverUri!, "/readyz"))).Content.ReadAsStringAsync();
        Assert.Contains("broker", detail);
    }

    [Fact]
    public async Task With_the_broker_stopped_webhooks_get_503_and_the_resync_deploys_what_was_missed()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync(registerWebhook: false);
        using var http = new HttpClient();
        try
        {
            await broker.StopAppAsync();
            SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]);
            var response = await http.SendAsync(PipelineWorld.SignedWebhook(world.ReceiverUri!,
                PipelineWorld.ModelVersionCreated("iris_classifier-py312-catboost12.staging", "1")));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        finally
        {
            await broker.StartAppAsync();
        }
        await world.StartWorkerAsync(BothClusters);
        await PipelineWorld.WaitUntil(() =>
        {
            try { world.Resync.RequestAsync(now: true, CancellationToken.None).GetAwaiter().GetResult(); return true; }
            catch (Exception) { return false; } // the bus is still reconnecting
        }, seconds: 60, what: "resync after restart");
        await PipelineWorld.WaitUntil(() => Tags(world, "iris_classifier-py312-catboost12.staging")
            .GetValueOrDefault("mlray.ray-cluster-py312.status") == "RUNNING", seconds: 60, what: "deployed by resync");
    }

    [Fact]
    public async Task Two_workers_for_one_cluster_one_active_and_the_other_takes_over()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartWorkerAsync([], router: true);
        var a = await world.StartWorkerAsync(["ray-cluster-py312"], router: false);
        var b = await world.StartWorkerAsync(["ray-cluster-py312"], router: false);
        await world.StartReceiverAsync();

        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]);
        await PipelineWorld.WaitUntil(() => world.Emulators.Ray312.PutCount == 1, what: "first deploy");
        var ja = PipelineWorld.Journal(a);
        var jb = PipelineWorld.Journal(b);
        await PipelineWorld.WaitUntil(() => ja.Entries.Count + jb.Entries.Count > 0, what: "the active instance recorded its deploy");
        Assert.True(ja.Entries.Count == 0 || jb.Entries.Count == 0, "both instances consumed: not single-active");
        var (active, standby, standbyJournal) = ja.Entries.Count > 0 ? (a, b, jb) : (b, a, ja);

        await world.StopAsync(active);
        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]);
        // The journal is written once the deploy has finished (after Ray reports RUNNING and tags are set).
        await PipelineWorld.WaitUntil(() => standbyJournal.Entries.Any(e => e.Applied), seconds: 60, what: "standby took over");
        Assert.Equal(2, world.Emulators.Ray312.PutCount);
    }
}
