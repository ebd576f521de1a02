using MLRay.Deploy;
using MLRay.Emulators.Ray;
using MLRay.Serve;

namespace MLRay.Tests.Integration.Serving;

/// <summary>
/// Gateway mode through the worker's reconcile, against the emulated Ray's data plane (routes, weights, pins, stats) while
/// a client sends requests: smoke tests pinned, rollouts in steps as the gateway's stats allow, rollback, removal.
/// </summary>
public class GatewayRolloutTests
{
    private const string Gateway = "traffic: gateway\nrollout: {interval: 1s, min_requests: 5}\nretry: {attempts: 1, delays: [1s]}";

    private static async Task<ServingHarness> WithVersion1Async(string keys = Gateway)
    {
        var h = await ServingHarness.StartAsync(keys);
        h.Register();
        await h.ReconcileUntil(() => h.Tag("1", "status") == DeployStatus.Running && h.GatewayServes("1", 100), "version 1 RUNNING through the gateway");
        return h;
    }

    /// <summary>The gateway's weights for the route in each accepted PUT, and whether that PUT changed any other app.</summary>
    private static List<(IReadOnlyDictionary<string, int> Weights, bool OthersChanged)> PutHistory(RayDashboardEmulator ray, int from)
    {
        var history = new List<(IReadOnlyDictionary<string, int>, bool)>();
        JsonObject? previous = JsonNode.Parse(ray.PutBodies[from - 1]) as JsonObject;
        foreach (var body in ray.PutBodies.Skip(from))
        {
            var config = (JsonObject)JsonNode.Parse(body)!;
            var apps = config["applications"]!.AsArray().OfType<JsonObject>().ToList();
            var others = apps.Where(a => (string)a["name"]! != GatewayLayout.AppName).Select(a => a.ToJsonString()).Order().ToList();
            var before = previous!["applications"]!.AsArray().OfType<JsonObject>().Where(a => (string)a["name"]! != GatewayLayout.AppName).Select(a => a.ToJsonString()).Order().ToList();
            history.Add((ServingHarness.WeightsIn(apps.Single(a => (string)a["name"]! == GatewayLayout.AppName)), !others.SequenceEqual(before)));
            previous = config;
        }
        return history;
    }

    [Fact]
    public async Task A_version_failing_its_smoke_test_never_receives_an_unpinned_request()
    {
        await using var h = await WithVersion1Async();
        h.Ray.Options.SetPredictFault(ServingHarness.Name, "2", PredictFault.Error(500, "ValueError: boom"));
        h.Register();
        await using (var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route).Start(TimeSpan.Zero))
        {
            await h.ReconcileUntil(() => h.Letters.Any() && client.Answers.Count >= 1000, "version 2 dead-lettered, 1,000 requests sent", seconds: 60);
            await client.StopAsync();
            Assert.All(client.Answers, a => Assert.Equal((200, "1"), (a.Status, a.Version)));
        }
        Assert.Empty(h.Ray.ServeCalls.Where(c => c is { Version: "2", Pinned: false }));
        Assert.NotEmpty(h.Ray.ServeCalls.Where(c => c is { Version: "2", Pinned: true, Status: 500 })); // its smoke test
        var letter = Assert.Single(h.Letters);
        Assert.Equal(FailureClass.Verify, letter.FailureClass);
        Assert.Contains("HTTP 500", letter.Message);
        await h.ReconcileUntil(() => h.Ray.GetApplication("iris_classifier-py312-catboost12--v2") is null, "version 2's app removed");
        Assert.Equal(new Dictionary<string, int> { ["1"] = 100 }, h.RunningWeights());
    }

    [Fact]
    public async Task A_good_version_goes_0_10_50_100_by_gateway_only_puts_and_the_previous_app_goes_one_interval_after_100()
    {
        await using var h = await WithVersion1Async();
        var from = h.Ray.PutBodies.Count;
        h.Register();
        await using var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route).Start();
        DateTimeOffset? at100 = null;
        await h.ReconcileUntil(() =>
        {
            if (at100 is null && h.GatewayServes("2", 100)) at100 = DateTimeOffset.UtcNow;
            return h.Ray.GetApplication("iris_classifier-py312-catboost12--v1") is null;
        }, "version 1's app removed after the rollout", seconds: 60);
        var removedAt = DateTimeOffset.UtcNow;

        var history = PutHistory(h.Ray, from);
        var weights = history.Select(p => p.Weights.GetValueOrDefault("2", -1)).ToList();
        Assert.Equal([0, 10, 50, 100], weights.Where(w => w >= 0).Distinct());
        // Each step is a lightweight update: only the gateway's table changed in the PUTs that moved the weights.
        for (var i = 1; i < history.Count; i++)
            if (history[i].Weights.GetValueOrDefault("2") != history[i - 1].Weights.GetValueOrDefault("2"))
                Assert.False(history[i].OthersChanged, $"PUT {i} moved the weights and changed another app too");
        Assert.True(removedAt - at100!.Value >= TimeSpan.FromSeconds(0.9), $"version 1's app went {(removedAt - at100.Value).TotalSeconds:0.0} s after 100 %");
        Assert.Equal(DeployStatus.Running, h.Tag("2", "status"));
        Assert.Equal(DeployStatus.Undeployed, h.Tag("1", "status"));
        Assert.Matches(@"^passed \d+ ms$", h.Tag("2", "smoke_test"));
        Assert.Contains("\"done\":true", h.Tag("2", "rollout"));
        await client.StopAsync();
        Assert.True(client.Answers.All(a => a.Status == 200), string.Join("\n", client.Failures.Take(3)));
        Assert.Contains(client.Answers, a => a.Version == "2");
    }

    [Fact]
    public async Task An_error_rate_rising_at_10_percent_rolls_back_within_one_interval()
    {
        await using var h = await WithVersion1Async();
        h.Register();
        await using var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route).Start();
        await h.ReconcileUntil(() => h.GatewayServes("2", 10), "version 2 at 10 %");
        h.Ray.Options.SetPredictFault(ServingHarness.Name, "2", PredictFault.Error(503, "overloaded"));
        var broken = DateTimeOffset.UtcNow;
        await h.ReconcileUntil(() => h.Letters.Any(), "version 2's rollout stopped", seconds: 30);
        var stopped = DateTimeOffset.UtcNow;

        Assert.True(stopped - broken < TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(1.5), $"rolled back {(stopped - broken).TotalSeconds:0.0} s after the errors began");
        var letter = Assert.Single(h.Letters);
        Assert.Equal(FailureClass.Rollout, letter.FailureClass);
        Assert.Contains("rollout stopped: error rate", letter.Message);
        await h.ReconcileUntil(() => h.RunningWeights() is { Count: 1 } w && w.GetValueOrDefault("1") == 100, "version 1 alone again");
        Assert.Contains("rollout stopped", h.Tag("2", "message"));
    }
}
