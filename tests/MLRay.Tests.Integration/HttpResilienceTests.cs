using Microsoft.Extensions.DependencyInjection;
using MLRay.Http;
using MLRay.Registry;
using MLRay.Serve;
using Polly.CircuitBreaker;

namespace MLRay.Tests.Integration;

/// <summary>Which requests of the MLflow and Ray clients are sent again after a transient failure, and which never are.</summary>
public class HttpResilienceTests
{
    /// <summary>A webhook to a port nothing listens on: these tests only look at the requests to MLflow.</summary>
    private static readonly MlflowClient.WebhookFields AHook = new()
    {
        Name = "mlray", Url = "http://127.0.0.1:9/webhook", Events = [new("MODEL_VERSION", "CREATED")],
    };

    [Fact]
    public async Task Mlray_deploy_survives_a_burst_of_503s_from_ray_while_it_polls()
    {
        await using var world = await DeployWorld.StartAsync();
        world.Ray312.Options.BuildTime = TimeSpan.FromSeconds(3); // the CLI polls every second: several polls after the PUT
        world.RegisterSeed();

        var deploy = Programs.RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312", "--output", "json");
        await DeployTests.WaitUntil(() => world.Ray312.PutCount == 1, seconds: 60);
        world.Ray312.Options.FailNextGets = MLRayHttpClients.MaxRetries; // as many as one GET may be retried
        var (code, stdout, stderr) = await deploy;

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal("running", (string)JsonNode.Parse(stdout)!["apps"]![0]!["outcome"]!);
        var afterPut = world.Ray312.Requests.SkipWhile(r => r.Method != "PUT").Skip(1).ToList();
        Assert.Equal(MLRayHttpClients.MaxRetries, afterPut.Count(r => r.Method == "GET" && r.Status == 503));
        Assert.Equal(1, world.Ray312.PutCount);
    }

    [Fact]
    public async Task A_ray_500_traceback_on_put_is_not_sent_again()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Ray312.Options.FailNextPuts = 2; // a second attempt would also fail, and show up as a second PUT

        var (code, _, stderr) = await Programs.RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312");

        Assert.True(code == 3, $"exit {code}\n{stderr}");
        Assert.Single(world.Ray312.Requests, r => r.Method == "PUT");
    }

    [Fact]
    public async Task A_webhook_create_answered_503_is_not_sent_again()
    {
        await using var world = await DeployWorld.StartAsync();
        using var client = new MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory);
        world.Mlflow.Faults.FailNext = 1;

        var e = await Assert.ThrowsAsync<MlflowException>(() => client.CreateWebhookAsync(AHook));

        Assert.Equal(503, e.Status);
        Assert.Equal("TEMPORARILY_UNAVAILABLE", e.ErrorCode);
        Assert.Equal(1, world.Mlflow.RequestCounts()["webhooks"]);
        Assert.Empty(await client.ListWebhooksAsync());
    }

    [Fact]
    public async Task A_webhook_test_answered_503_is_not_sent_again()
    {
        await using var world = await DeployWorld.StartAsync();
        using var client = new MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory);
        var hook = await client.CreateWebhookAsync(AHook);
        world.Mlflow.Faults.FailNext = 1;

        var e = await Assert.ThrowsAsync<MlflowException>(() => client.TestWebhookAsync(hook.WebhookId));

        Assert.Equal(503, e.Status);
        Assert.Equal(1, world.Mlflow.RequestCounts()[$"webhooks/{hook.WebhookId}/test"]);
        Assert.Empty(world.Mlflow.WebhookDeliveries);
    }

    [Fact]
    public async Task Requests_to_paths_with_an_id_are_measured_under_their_route_template_never_the_id()
    {
        await using var world = await DeployWorld.StartAsync();
        using var client = new MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory);
        var hook = await client.CreateWebhookAsync(AHook);
        var endpoints = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "MLRay" && i.Name == "http.request.duration") l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            foreach (var t in tags)
                if (t.Key == "endpoint" && t.Value is string e) endpoints.Add(e);
        });
        listener.Start();

        await client.UpdateWebhookAsync(hook.WebhookId, new MlflowClient.WebhookFields { Description = "renamed" });
        await client.TestWebhookAsync(hook.WebhookId);

        Assert.Contains("/api/2.0/mlflow/webhooks/{webhook_id}", endpoints);
        Assert.Contains("/api/2.0/mlflow/webhooks/{webhook_id}/test", endpoints);
        Assert.DoesNotContain(endpoints, e => e.Contains(hook.WebhookId, StringComparison.Ordinal));
        Assert.Equal(1, world.Mlflow.RequestCounts()[$"webhooks/{hook.WebhookId}/test"]); // the id is still in the request's path
    }

    [Fact]
    public async Task A_set_tag_answered_503_is_sent_again_and_sets_the_tag()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        using var client = new MlflowClient(world.Mlflow.BaseUri, TestHttp.Factory);
        const string model = "iris_classifier-py312-catboost12.staging";
        world.Mlflow.Faults.FailNext = 1;

        await client.SetModelVersionTagAsync(model, "1", "mlray.status", "RUNNING");

        Assert.Equal(2, world.Mlflow.RequestCounts()["model-versions/set-tag"]);
        Assert.Equal("RUNNING", (await client.GetModelVersionAsync(model, "1")).Tags?.Single(t => t.Key == "mlray.status").Value);
    }

    private static readonly JsonObject EmptyConfig = new() { ["applications"] = new JsonArray() };

    /// <summary>A factory of its own, so no other test's requests count in its circuit breakers (the process's one is shared).</summary>
    private static IHttpClientFactory OwnFactory() =>
        new ServiceCollection().AddMLRayHttpClients().BuildServiceProvider().GetRequiredService<IHttpClientFactory>();

    [Theory]
    [InlineData("503")]
    [InlineData("dropped connection")]
    public async Task A_ray_put_that_fails_transiently_is_sent_again_and_applied_once(string fault)
    {
        await using var world = await DeployWorld.StartAsync();
        using var ray = new RayDashboardClient(world.Ray312.BaseUri, http: OwnFactory());
        if (fault == "503") world.Ray312.Options.UnavailableNextPuts = 1;
        else world.Ray312.Options.DropNextRequests = 1;

        await ray.PutApplicationsAsync(EmptyConfig);

        // Two PUTs arrived: the first answered 503 by Ray's handler, or dropped before it saw it; the second applied.
        Assert.Equal(2, world.Ray312.Requests.Count(r => r.Method == "PUT"));
        Assert.Equal(fault == "503" ? 2 : 1, world.Ray312.PutCount);
        Assert.Single(world.Ray312.PutBodies);
    }

    [Fact]
    public async Task Retry_after_on_a_503_is_honoured_instead_of_the_quarter_second_backoff()
    {
        await using var world = await DeployWorld.StartAsync();
        using var ray = new RayDashboardClient(world.Ray312.BaseUri, http: OwnFactory());
        world.Ray312.Options.RetryAfter = TimeSpan.FromSeconds(2);
        world.Ray312.Options.FailNextGets = 1;

        await ray.GetApplicationsAsync();

        var gets = world.Ray312.Requests.Where(r => r.Method == "GET").ToList();
        Assert.Equal([503, 200], gets.Select(r => r.Status));
        var waited = gets[1].At - gets[0].At;
        // The backoff alone would wait about 0.25 s (jittered, well under 1 s); the header asks for 2 s.
        Assert.True(waited >= TimeSpan.FromSeconds(1.9) && waited < TimeSpan.FromSeconds(10), $"retried after {waited}");
    }

    [Fact]
    public async Task One_circuit_breaker_per_server_a_ray_cluster_that_keeps_failing_does_not_stop_requests_to_the_others()
    {
        await using var world = await DeployWorld.StartAsync();
        var factory = OwnFactory();
        using var failing = new RayDashboardClient(world.Ray312.BaseUri, http: factory);
        using var other = new RayDashboardClient(world.Ray39.BaseUri, http: factory);
        using var mlflow = new MlflowClient(world.Mlflow.BaseUri, http: factory);
        world.Ray312.Options.FailNextGets = int.MaxValue;

        // The standard breaker opens once it has sampled 100 attempts, 10 % of them failed: 25 requests × 5 attempts.
        var burst = Enumerable.Range(0, 25).Select(_ => Assert.ThrowsAnyAsync<Exception>(() => failing.GetApplicationsAsync())).ToList();
        var failures = await Task.WhenAll(burst);
        Assert.Contains(failures, e => Broken(e));

        var sent = world.Ray312.Requests.Count;
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => failing.GetApplicationsAsync());
        Assert.True(Broken(refused), $"not refused by an open circuit: {refused}");
        Assert.Equal(sent, world.Ray312.Requests.Count); // refused in process: nothing reached that cluster

        // Another Ray cluster (another authority on the same named client) and MLflow are served as before.
        Assert.NotNull(await other.GetApplicationsAsync());
        Assert.Empty(await mlflow.ListWebhooksAsync());
        Assert.All(world.Ray39.Requests, r => Assert.Equal(200, r.Status));

        static bool Broken(Exception? e)
        {
            for (; e is not null; e = e.InnerException)
                if (e is BrokenCircuitException) return true;
            return false;
        }
    }
}
