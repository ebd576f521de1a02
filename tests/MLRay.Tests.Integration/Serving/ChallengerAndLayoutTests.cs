using MLRay.Deploy;
using MLRay.Emulators.Seed;
using MLRay.Serve;

namespace MLRay.Tests.Integration.Serving;

/// <summary>Champion/challenger and shadow through the gateway, and moving a running cluster between layouts without a lost request.</summary>
public class ChallengerAndLayoutTests
{
    private const string Gateway = "traffic: gateway\nrollout: {interval: 1s, min_requests: 5}";
    private const string Aliases = "  alias: champion\n  challenger_alias: challenger";

    private static async Task<ServingHarness> ChampionAndChallengerAsync(IReadOnlyDictionary<string, string> tags)
    {
        var h = await ServingHarness.StartAsync(Gateway, Aliases);
        h.Register(tags: tags);
        h.Register(tags: tags);
        h.World.Mlflow.SetAlias(ServingHarness.Name, "champion", "1");
        h.World.Mlflow.SetAlias(ServingHarness.Name, "challenger", "2");
        return h;
    }

    private static Dictionary<string, string> Tags(string key, string value) =>
        new(SeedModels.Tags(ServingHarness.Model.AppName)) { [key] = value };

    [Fact]
    public async Task A_challenger_at_weight_20_takes_20_percent_of_1000_requests()
    {
        await using var h = await ChampionAndChallengerAsync(Tags("ray.challenger.weight", "20"));
        // Both tags: a reconcile writes them from Ray's state when it read it, the gateway check reads Ray's state now.
        await h.ReconcileUntil(() => h.Tag("2", "status") == DeployStatus.Running && h.Tag("1", "status") == DeployStatus.Running && h.GatewayServes("2", 20), "the challenger at 20 % beside the champion");
        Assert.Equal(new Dictionary<string, int> { ["1"] = 80, ["2"] = 20 }, h.RunningWeights());
        Assert.Equal(DeployStatus.Running, h.Tag("1", "status")); // the champion stays
        Assert.Contains("challenger beside version 1: 20 %", h.Tag("2", "message"));
        Assert.Matches(@"^passed \d+ ms$", h.Tag("2", "smoke_test"));

        await using var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route);
        for (var i = 0; i < 1000; i++) await client.SendAsync();
        Assert.All(client.Answers, a => Assert.Equal(200, a.Status));
        var share = client.Answers.Count(a => a.Version == "2");
        Assert.InRange(share, 160, 240);

        // Promotion is MLflow's own act; the alias removed, the challenger's app goes.
        h.World.Mlflow.DeleteAlias(ServingHarness.Name, "challenger");
        await h.ReconcileUntil(() => h.Ray.GetApplication("iris_classifier-py312-catboost12--v2") is null && h.GatewayServes("1", 100), "the challenger removed");
        Assert.Equal(DeployStatus.Undeployed, h.Tag("2", "status"));
    }

    [Fact]
    public async Task A_shadow_challenger_gets_a_quarter_of_the_copies_and_clients_see_only_the_champion()
    {
        await using var h = await ChampionAndChallengerAsync(Tags("ray.challenger.shadow", "0.25"));
        await h.ReconcileUntil(() => h.Tag("2", "status") == DeployStatus.Running
                                     && h.Ray.GetApplication(GatewayLayout.AppName)?["status"]?.GetValue<string>() == "RUNNING"
                                     && GatewayLayout.RoutesOf(h.Ray.GetApplication(GatewayLayout.AppName)?["deployed_app_config"] as JsonObject, "/").Single().Shadow.Count == 1,
            "the challenger shadowing");
        var before = h.Ray.ServeCalls.Count;
        await using var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route);
        for (var i = 0; i < 1000; i++) await client.SendAsync();
        await h.Ray.WhenShadowCallsDoneAsync();

        Assert.All(client.Answers, a => Assert.Equal((200, "1"), (a.Status, a.Version)));
        var copies = h.Ray.ServeCalls.Skip(before).Count(c => c is { Version: "2", Shadow: true });
        Assert.InRange(copies, 210, 290);
        Assert.Empty(h.Ray.ServeCalls.Skip(before).Where(c => c is { Version: "2", Shadow: false }));
    }

    [Fact]
    public async Task Direct_to_gateway_and_back_on_a_running_cluster_loses_no_request()
    {
        await using var h = await ServingHarness.StartAsync();
        h.Register();
        await h.ReconcileUntil(() => h.Tag("1", "status") == DeployStatus.Running, "version 1 RUNNING, direct");
        await using var client = new ServeClient(h.Ray.ServeUri, ServingHarness.Route).Start();

        h.Configure(Gateway);
        await h.ReconcileUntil(() => h.GatewayServes("1", 100) && h.Ray.GetApplication(ServingHarness.Model.AppName) is null, "the gateway serving, the direct app gone");
        var viaGateway = client.Answers.Count;

        h.Configure();
        await h.ReconcileUntil(() => h.Ray.GetApplication(GatewayLayout.AppName) is null && h.Ray.GetApplication("iris_classifier-py312-catboost12--v1") is null
                                     && h.Ray.GetApplication(ServingHarness.Model.AppName)?["status"]?.GetValue<string>() == "RUNNING", "direct again, the gateway gone");
        await Task.Delay(300);
        await client.StopAsync();

        Assert.True(client.Answers.Count > viaGateway && viaGateway > 0, "the client sent requests throughout");
        Assert.True(client.Answers.All(a => a.Status == 200), string.Join("\n", client.Failures.Take(3)));
        Assert.Contains(client.Answers, a => a.Version == "1"); // some went through the gateway
        Assert.Equal(DeployStatus.Running, h.Tag("1", "status"));
    }

    [Fact]
    public async Task Gateway_mode_refuses_a_cluster_where_a_foreign_app_has_the_root_route_and_changes_nothing()
    {
        await using var h = await ServingHarness.StartAsync(Gateway);
        h.Ray.DeployImperativeApp("dashboard-ui", "/");
        h.Register();
        var puts = h.Ray.PutCount;
        var e = await Assert.ThrowsAsync<ServeLayoutException>(() => h.ReconcileAsync());
        Assert.Contains("'dashboard-ui'", e.Message);
        Assert.Contains("gateway.route_prefix", e.Message);
        Assert.Equal(puts, h.Ray.PutCount);
    }
}
