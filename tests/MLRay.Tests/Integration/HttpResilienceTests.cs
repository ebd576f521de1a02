using MLRay.Http;
using MLRay.Registry;

namespace MLRay.Tests.Integration;

/// <summary>Which requests of the MLflow and Ray clients are sent again after a transient failure, and which never are.</summary>
public class HttpResilienceTests
{
    [Fact]
    public async Task Mlray_deploy_survives_a_burst_of_503s_from_ray_while_it_polls()
    {
        await using var world = await DeployWorld.StartAsync();
        world.Ray312.Options.BuildTime = TimeSpan.FromSeconds(3); // the CLI polls every second: several polls after the PUT
        world.RegisterSeed();

        var deploy = CliTests.RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312", "--output", "json");
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

        var (code, _, stderr) = await CliTests.RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312");

        Assert.True(code == 3, $"exit {code}\n{stderr}");
        Assert.Single(world.Ray312.Requests, r => r.Method == "PUT");
    }

    [Fact]
    public async Task A_webhook_create_answered_503_is_not_sent_again()
    {
        await using var world = await DeployWorld.StartAsync();
        using var client = new MlflowClient(world.Mlflow.BaseUri);
        world.Mlflow.Faults.FailNext = 1;

        var e = await Assert.ThrowsAsync<MlflowException>(() => client.CreateWebhookAsync(new MlflowClient.WebhookFields
        {
            Name = "mlray", Url = "http://127.0.0.1:9/webhook", Events = [new("MODEL_VERSION", "CREATED")],
        }));

        Assert.Equal(503, e.Status);
        Assert.Equal("TEMPORARILY_UNAVAILABLE", e.ErrorCode);
        Assert.Equal(1, world.Mlflow.RequestCounts()["webhooks"]);
        Assert.Empty(await client.ListWebhooksAsync());
    }

    [Fact]
    public async Task A_webhook_test_answered_503_is_not_sent_again()
    {
        await using var world = await DeployWorld.StartAsync();
        using var client = new MlflowClient(world.Mlflow.BaseUri);
        var hook = await client.CreateWebhookAsync(new MlflowClient.WebhookFields
        {
            Name = "mlray", Url = "http://127.0.0.1:9/webhook", Events = [new("MODEL_VERSION", "CREATED")],
        });
        world.Mlflow.Faults.FailNext = 1;

        var e = await Assert.ThrowsAsync<MlflowException>(() => client.TestWebhookAsync(hook.WebhookId));

        Assert.Equal(503, e.Status);
        Assert.Equal(1, world.Mlflow.RequestCounts()[$"webhooks/{hook.WebhookId}/test"]);
        Assert.Empty(world.Mlflow.WebhookDeliveries);
    }

    [Fact]
    public async Task A_set_tag_answered_503_is_sent_again_and_sets_the_tag()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        using var client = new MlflowClient(world.Mlflow.BaseUri);
        const string model = "iris_classifier-py312-catboost12.staging";
        world.Mlflow.Faults.FailNext = 1;

        await client.SetModelVersionTagAsync(model, "1", "mlray.status", "RUNNING");

        Assert.Equal(2, world.Mlflow.RequestCounts()["model-versions/set-tag"]);
        Assert.Equal("RUNNING", (await client.GetModelVersionAsync(model, "1")).Tags?.Single(t => t.Key == "mlray.status").Value);
    }
}
