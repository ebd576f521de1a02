using MLRay.Deploy;
using MLRay.Emulators.Ray;

namespace MLRay.Tests.Integration.Serving;

/// <summary>
/// The smoke test in direct mode, through the worker's reconcile against the emulators over real HTTP: the version is
/// POSTed its own serving input example on the Serve proxy once Ray runs it; a failure rolls back as a failed install does.
/// </summary>
public class SmokeTestDirectTests
{
    private const string OneAttempt = "retry: {attempts: 1, delays: [1s]}";

    [Fact]
    public async Task A_version_whose_predict_answers_500_is_rolled_back_to_the_last_good_one_and_dead_lettered_with_the_status_and_body()
    {
        await using var h = await ServingHarness.StartAsync(OneAttempt);
        h.Register();
        await h.ReconcileUntil(() => h.Tag("1", "status") == DeployStatus.Running, "version 1 RUNNING");
        Assert.Matches(@"^passed \d+ ms$", h.Tag("1", "smoke_test"));

        h.Ray.Options.SetPredictFault(ServingHarness.Name, "2", PredictFault.Error(500, "Traceback (most recent call last):\nKeyError: 'petal length (cm)'"));
        h.Register();
        await h.ReconcileUntil(() => h.Letters.Any(), "version 2 dead-lettered");

        var letter = Assert.Single(h.Letters);
        Assert.Equal((FailureClass.Verify, "2"), (letter.FailureClass, letter.Version));
        Assert.Contains("HTTP 500", letter.Message);
        Assert.Contains("KeyError: 'petal length (cm)'", letter.Message);
        Assert.Contains("serving_input_example.json", letter.Message); // which file was sent
        Assert.StartsWith("failed: HTTP 500 Traceback", h.Tag("2", "smoke_test"));
        Assert.Equal(DeployStatus.Failed, h.Tag("2", "status"));
        Assert.Contains("HTTP 500", h.Tag("2", "message"));

        // Rolled back: Ray runs version 1 again, and it answers.
        await h.ReconcileUntil(() => h.Tag("1", "status") == DeployStatus.Running
                                     && h.Ray.GetApplication(ServingHarness.Model.AppName)?["deployed_app_config"]?["args"]?["mlray_version"]?.GetValue<string>() == "1"
                                     && h.Ray.GetApplication(ServingHarness.Model.AppName)?["status"]?.GetValue<string>() == "RUNNING", "version 1 serving again");
        await using var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route);
        Assert.Equal(200, (await client.SendAsync()).Status);
        Assert.Equal("1", h.Ray.ServeCalls.Last().Version);
    }

    [Fact]
    public async Task A_version_without_an_example_runs_as_skipped_and_with_smoke_test_required_is_dead_lettered_at_once_naming_the_file()
    {
        var noExample = new Dictionary<string, string?> { ["serving_input_example.json"] = null };
        await using (var h = await ServingHarness.StartAsync())
        {
            h.Register(noExample);
            await h.ReconcileUntil(() => h.Tag("1", "status") == DeployStatus.Running, "version 1 RUNNING");
            Assert.Equal("skipped: no serving input example", h.Tag("1", "smoke_test"));
            Assert.Empty(h.Ray.ServeCalls); // nothing was sent
        }
        await using (var h = await ServingHarness.StartAsync("smoke_test: required"))
        {
            h.Register(noExample);
            await h.ReconcileUntil(() => h.Letters.Any(), "version 1 dead-lettered");
            var letter = Assert.Single(h.Letters);
            Assert.Equal(FailureClass.Permanent, letter.FailureClass);
            Assert.Contains("serving_input_example.json", letter.Message);
            Assert.Contains("smoke_test is required", letter.Message);
            Assert.Equal(1, letter.Attempts); // at once: not retried
            Assert.Equal(DeployStatus.Failed, h.Tag("1", "status"));
        }
    }

    [Fact]
    public async Task The_tag_ray_smoke_test_input_is_sent_instead_of_the_example()
    {
        await using var h = await ServingHarness.StartAsync();
        var tags = new Dictionary<string, string>(Emulators.Seed.SeedModels.Tags(ServingHarness.Model.AppName)) { ["ray.smoke_test.input"] = """{"inputs": [[1.0, 2.0, 3.0, 4.0]]}""" };
        h.Register(tags: tags);
        await h.ReconcileUntil(() => h.Tag("1", "status") == DeployStatus.Running, "version 1 RUNNING");
        var sent = Assert.Single(h.Ray.ServeRequests, r => r.Method == "POST");
        Assert.Equal("""{"inputs": [[1.0, 2.0, 3.0, 4.0]]}""", sent.Body);
        Assert.StartsWith("application/json", sent.Headers["Content-Type"]);
    }

    [Fact]
    public async Task Mlray_deploy_smoke_tests_the_apps_it_deployed_and_a_500_fails_the_deploy()
    {
        await using var world = await DeployWorld.StartAsync();
        Emulators.Seed.SeedModels.Register(world.Mlflow, ServingHarness.Model);
        var good = await world.DeployAsync(ServingHarness.Cluster);
        Assert.True(good.Succeeded);
        Assert.Matches(@"^passed \d+ ms$", good.SmokeTests[ServingHarness.Name].Text);

        world.Ray312.Options.SetPredictFault(ServingHarness.Name, "2", PredictFault.Error(500, "ValueError: boom"));
        Emulators.Seed.SeedModels.Register(world.Mlflow, ServingHarness.Model);
        var bad = await world.DeployAsync(ServingHarness.Cluster);
        Assert.False(bad.Succeeded);
        Assert.StartsWith("failed: HTTP 500", bad.SmokeTests[ServingHarness.Name].Text);
        var json = Cli.Rendering.ReportRenderer.ToJson(bad);
        var model = json["models"]!.AsArray().Single(m => (string)m!["registered_model"]! == ServingHarness.Name)!;
        Assert.StartsWith("failed: HTTP 500 ValueError: boom", (string)model["smoke_test"]!);
        Assert.False((bool)json["succeeded"]!);

        var again = await world.DeployAsync(ServingHarness.Cluster); // nothing new PUT: nothing tested again
        Assert.Empty(again.SmokeTests);
    }
}
