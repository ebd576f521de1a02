using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using MLRay.Emulators.Ray;

namespace MLRay.Tests.Emulators;

public sealed class RayDashboardEmulatorTests
{
    private const string Route = "/api/serve/applications/";

    private static RayEmulatorOptions Fast(string arch = "x86_64", int buildMs = 60) => new() { Architecture = arch, BuildTime = TimeSpan.FromMilliseconds(buildMs) };

    private static JsonObject App(string name, string? pip = null, string importPath = "mlray_serve.app:build", string? deploymentName = null, double? cpus = null)
    {
        var app = new JsonObject
        {
            ["name"] = name,
            ["route_prefix"] = "/" + name,
            ["import_path"] = importPath,
            ["args"] = new JsonObject { ["model_uri"] = $"models:/{name}/1" },
        };
        if (pip is not null) app["runtime_env"] = new JsonObject { ["pip"] = new JsonArray(pip, "mlflow==2.13.0") };
        if (deploymentName is not null || cpus is not null)
        {
            var dep = new JsonObject { ["name"] = deploymentName ?? "MLflowModel" };
            if (cpus is not null) dep["ray_actor_options"] = new JsonObject { ["num_cpus"] = cpus };
            app["deployments"] = new JsonArray(dep);
        }
        return app;
    }

    private static async Task<HttpResponseMessage> PutAsync(HttpClient http, string body, Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, Route) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        configure?.Invoke(request);
        return await http.SendAsync(request);
    }

    private static Task<HttpResponseMessage> PutAppsAsync(HttpClient http, params JsonObject[] apps) =>
        PutAsync(http, new JsonObject { ["applications"] = new JsonArray(apps.Select(a => (JsonNode)a).ToArray()) }.ToJsonString());

    private static async Task<JsonObject> GetInstanceAsync(HttpClient http) =>
        JsonNode.Parse(await http.GetStringAsync(Route))!.AsObject();

    private static async Task<JsonObject> WaitForAsync(HttpClient http, Func<JsonObject, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        JsonObject last;
        do
        {
            last = await GetInstanceAsync(http);
            if (done(last)) return last;
            await Task.Delay(25);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail($"Timed out waiting for {what}; last GET: {last.ToJsonString()}");
        return last;
    }

    private static string? Status(JsonObject instance, string app) => instance["applications"]?[app]?["status"]?.GetValue<string>();

    [Fact]
    public async Task A_fresh_cluster_reports_serve_not_started_and_its_version()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(Fast());
        using var http = new HttpClient { BaseAddress = ray.BaseUri };
        Assert.Equal("{\"deploy_mode\":\"MULTI_APP\",\"controller_info\":{},\"proxies\":{},\"applications\":{},\"target_capacity\":null}",
            await http.GetStringAsync(Route));
        var version = JsonNode.Parse(await http.GetStringAsync("/api/ray/version"))!;
        Assert.Equal("2.47.1", version["ray_version"]!.GetValue<string>());
        using var noSlash = await http.GetAsync("/api/serve/applications");
        Assert.Equal(HttpStatusCode.NotFound, noSlash.StatusCode);
    }

    [Fact]
    public async Task Put_is_a_full_replace_the_imperative_app_survives_and_an_unchanged_app_keeps_its_replicas()
    {
        var clock = new FakeTimeProvider();
        var options = Fast(buildMs: 1000);
        options.TimeProvider = clock;
        await using var ray = await RayDashboardEmulator.StartAsync(options);
        using var http = new HttpClient { BaseAddress = ray.BaseUri };
        ray.DeployImperativeApp("imp", "/imp");

        using (var put = await PutAppsAsync(http, App("a"), App("b")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Equal("", await put.Content.ReadAsStringAsync());
        }
        var first = await GetInstanceAsync(http);
        Assert.Equal("DEPLOYING", Status(first, "a"));
        Assert.Null(first["applications"]!["a"]!["route_prefix"]);
        Assert.Empty(first["applications"]!["a"]!["deployments"]!.AsObject());
        Assert.NotEmpty(first["controller_info"]!.AsObject());

        clock.Advance(TimeSpan.FromSeconds(1));
        var running = await GetInstanceAsync(http);
        Assert.Equal("RUNNING", Status(running, "a"));
        Assert.Equal("RUNNING", Status(running, "b"));
        var a = running["applications"]!["a"]!;
        Assert.Equal("/a", a["route_prefix"]!.GetValue<string>());
        Assert.Equal("declarative", a["source"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(App("a"), a["deployed_app_config"]));
        var dep = a["deployments"]!["MLflowModel"]!;
        Assert.Equal("HEALTHY", dep["status"]!.GetValue<string>());
        var replicaId = dep["replicas"]![0]!["replica_id"]!.GetValue<string>();
        Assert.Equal($"SERVE_REPLICA::a#MLflowModel#{replicaId}", dep["replicas"]![0]!["actor_name"]!.GetValue<string>());
        var deployedAt = a["last_deployed_time_s"]!.GetValue<double>();

        clock.Advance(TimeSpan.FromSeconds(5));
        using (var put = await PutAppsAsync(http, App("a")))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var afterSecond = await GetInstanceAsync(http);
        Assert.Equal("DELETING", Status(afterSecond, "b"));
        Assert.Equal("RUNNING", Status(afterSecond, "a"));
        Assert.Equal(deployedAt + 6, afterSecond["applications"]!["a"]!["last_deployed_time_s"]!.GetValue<double>(), 3);

        clock.Advance(TimeSpan.FromSeconds(1));
        var final = await GetInstanceAsync(http);
        Assert.Null(final["applications"]!["b"]);
        Assert.Equal(replicaId, final["applications"]!["a"]!["deployments"]!["MLflowModel"]!["replicas"]![0]!["replica_id"]!.GetValue<string>());
        Assert.Equal("imperative", final["applications"]!["imp"]!["source"]!.GetValue<string>());
        Assert.Null(final["applications"]!["imp"]!["deployed_app_config"]);
        Assert.Equal(2, ray.PutBodies.Count);

        // A changed config goes back through DEPLOYING; "applications": [] removes the declarative app but keeps Serve.
        var changed = App("a");
        changed["args"] = new JsonObject { ["model_uri"] = "models:/a/2" };
        using (var put = await PutAppsAsync(http, changed)) Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("DEPLOYING", Status(await GetInstanceAsync(http), "a"));
        clock.Advance(TimeSpan.FromSeconds(1));
        var rebuilt = await GetInstanceAsync(http);
        Assert.Equal("RUNNING", Status(rebuilt, "a"));
        Assert.NotEqual(replicaId, rebuilt["applications"]!["a"]!["deployments"]!["MLflowModel"]!["replicas"]![0]!["replica_id"]!.GetValue<string>());
        using (var put = await PutAsync(http, "{\"applications\": []}")) Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        clock.Advance(TimeSpan.FromSeconds(1));
        var emptied = await GetInstanceAsync(http);
        Assert.Equal(["imp"], emptied["applications"]!.AsObject().Select(kv => kv.Key));
        Assert.NotEmpty(emptied["controller_info"]!.AsObject());
    }

    [Fact]
    public async Task A_catboost_pin_fails_on_aarch64_with_pips_message_and_runs_on_x86()
    {
        await using var arm = await RayDashboardEmulator.StartAsync(Fast("aarch64"));
        await using var x86 = await RayDashboardEmulator.StartAsync(Fast("x86_64"));
        using var armHttp = new HttpClient { BaseAddress = arm.BaseUri };
        using var x86Http = new HttpClient { BaseAddress = x86.BaseUri };

        using (var p1 = await PutAppsAsync(armHttp, App("cb", pip: "catboost==1.1"))) Assert.Equal(HttpStatusCode.OK, p1.StatusCode);
        using (var p2 = await PutAppsAsync(x86Http, App("cb", pip: "catboost==1.1"))) Assert.Equal(HttpStatusCode.OK, p2.StatusCode);

        var failed = await WaitForAsync(armHttp, i => Status(i, "cb") == "DEPLOY_FAILED", "cb DEPLOY_FAILED on aarch64");
        var app = failed["applications"]!["cb"]!;
        var message = app["message"]!.GetValue<string>();
        Assert.StartsWith("Runtime env setup for app 'cb' failed:", message);
        Assert.Contains("RuntimeEnvSetupError: Failed to set up runtime environment.", message);
        Assert.Contains("SubprocessCalledProcessError", message);
        Assert.Contains("ERROR: Could not find a version that satisfies the requirement catboost==1.1 (from versions: 1.2, 1.2.1, 1.2.2, 1.2.3, 1.2.5, 1.2.7, 1.2.8)\n    ERROR: No matching distribution found for catboost==1.1", message);
        Assert.Empty(app["deployments"]!.AsObject());
        Assert.Null(app["route_prefix"]);

        var ok = await WaitForAsync(x86Http, i => Status(i, "cb") == "RUNNING", "cb RUNNING on x86_64");
        Assert.Equal("HEALTHY", ok["applications"]!["cb"]!["deployments"]!["MLflowModel"]!["status"]!.GetValue<string>());

        // Identical re-PUT on aarch64: rebuilt and failed again (bad-env cache).
        var firstDeploy = app["last_deployed_time_s"]!.GetValue<double>();
        await Task.Delay(20);
        using (var p3 = await PutAppsAsync(armHttp, App("cb", pip: "catboost==1.1"))) Assert.Equal(HttpStatusCode.OK, p3.StatusCode);
        var again = await WaitForAsync(armHttp, i => Status(i, "cb") == "DEPLOY_FAILED"
            && i["applications"]!["cb"]!["last_deployed_time_s"]!.GetValue<double>() > firstDeploy, "cb DEPLOY_FAILED again");
        Assert.Contains("No matching distribution found for catboost==1.1", again["applications"]!["cb"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Build_failures_import_error_unknown_deployment_and_cpu_shortage()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(Fast());
        using var http = new HttpClient { BaseAddress = ray.BaseUri };
        using (var put = await PutAppsAsync(http,
                   App("noimport", importPath: "nosuchmod.app:app"),
                   App("badname", deploymentName: "Nope"),
                   App("huge", cpus: 64)))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var state = await WaitForAsync(http, i => Status(i, "noimport") == "DEPLOY_FAILED" && Status(i, "badname") == "DEPLOY_FAILED"
            && i["applications"]!["huge"]!["deployments"]!.AsObject().Count > 0, "build outcomes");
        Assert.StartsWith("Deploying app 'noimport' failed with exception:\nTraceback (most recent call last):\n", state["applications"]!["noimport"]!["message"]!.GetValue<string>());
        Assert.EndsWith("ModuleNotFoundError: No module named 'nosuchmod'\n", state["applications"]!["noimport"]!["message"]!.GetValue<string>());
        Assert.Contains("ValueError: Deployment 'Nope' does not exist. Available: ['MLflowModel']", state["applications"]!["badname"]!["message"]!.GetValue<string>());
        var huge = state["applications"]!["huge"]!;
        Assert.Equal("DEPLOYING", huge["status"]!.GetValue<string>());
        Assert.Equal("UPDATING", huge["deployments"]!["MLflowModel"]!["status"]!.GetValue<string>());
        Assert.Contains("taken more than 30s to be scheduled", huge["deployments"]!["MLflowModel"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Put_validation_errors_are_400_text_and_malformed_json_is_500()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(Fast());
        using var http = new HttpClient { BaseAddress = ray.BaseUri };

        using (var dup = await PutAppsAsync(http, App("same"), App("same")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, dup.StatusCode);
            Assert.Equal("text/plain", dup.Content.Headers.ContentType!.MediaType);
            var text = await dup.Content.ReadAsStringAsync();
            Assert.StartsWith("ValidationError(model='ServeDeploySchema', errors=[", text);
            Assert.Contains("Found multiple configs for application \"same\"", text);
        }

        var badRoute = App("r");
        badRoute["route_prefix"] = "/r/";
        using (var route = await PutAppsAsync(http, badRoute))
        {
            Assert.Equal(HttpStatusCode.BadRequest, route.StatusCode);
            Assert.Contains("'loc': ('applications', 0, 'route_prefix')", await route.Content.ReadAsStringAsync());
        }

        using (var missing = await PutAsync(http, "{}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Contains("ValidationError", await missing.Content.ReadAsStringAsync());
        }

        using (var malformed = await PutAsync(http, "{not json"))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, malformed.StatusCode);
            var text = await malformed.Content.ReadAsStringAsync();
            Assert.StartsWith("Traceback (most recent call last):", text);
            Assert.Contains("JSONDecodeError", text);
        }

        Assert.Empty(ray.PutBodies);
        Assert.Equal(4, ray.PutCount);
        Assert.Empty((await GetInstanceAsync(http))["controller_info"]!.AsObject());
    }

    [Fact]
    public async Task A_browser_looking_put_is_405()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(Fast());
        using var http = new HttpClient { BaseAddress = ray.BaseUri };
        using var response = await PutAsync(http, "{\"applications\": []}",
            r => r.Headers.UserAgent.ParseAdd("Mozilla/5.0 (X11; Linux x86_64)"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("Method Not Allowed for browser traffic.", await response.Content.ReadAsStringAsync());
        using var origin = await PutAsync(http, "{\"applications\": []}", r => r.Headers.Add("Origin", "http://evil.example"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, origin.StatusCode);
        Assert.Empty(ray.PutBodies);
    }

    [Fact]
    public async Task Token_auth_401_403_200()
    {
        var options = Fast();
        options.AuthToken = "tok-123";
        await using var ray = await RayDashboardEmulator.StartAsync(options);
        using var http = new HttpClient { BaseAddress = ray.BaseUri };

        using (var none = await http.GetAsync(Route))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Unauthorized: Missing authentication token", await none.Content.ReadAsStringAsync());
        }
        using (var wrong = await PutAsync(http, "{\"applications\": []}", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "nope")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
            Assert.Equal("Forbidden: Invalid authentication token", await wrong.Content.ReadAsStringAsync());
        }
        using (var good = await PutAsync(http, "{\"applications\": []}", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "tok-123")))
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        using (var kuberay = new HttpRequestMessage(HttpMethod.Get, Route))
        {
            kuberay.Headers.Add("X-Ray-Authorization", "Bearer tok-123");
            using var response = await http.SendAsync(kuberay);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var health = await http.GetAsync("/api/healthz"))
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Single(ray.PutBodies);
    }

    [Fact]
    public async Task Put_schema_violations_are_each_400_and_leave_the_state_unchanged()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(Fast());
        using var http = new HttpClient { BaseAddress = ray.BaseUri };
        var cases = new Dictionary<string, string>
        {
            ["num_replicas 0"] = """{"applications":[{"name":"a","import_path":"m.app","deployments":[{"name":"MLflowModel","num_replicas":0}]}]}""",
            ["num_replicas + autoscaling"] = """{"applications":[{"name":"a","import_path":"m.app","deployments":[{"name":"MLflowModel","num_replicas":2,"autoscaling_config":{"min_replicas":1}}]}]}""",
            ["local working_dir"] = """{"applications":[{"name":"a","import_path":"m.app","runtime_env":{"working_dir":"./src"}}]}""",
            ["no dot"] = """{"applications":[{"name":"a","import_path":"nodot"}]}""",
            ["two colons"] = """{"applications":[{"name":"a","import_path":"a:b:c"}]}""",
            ["app port"] = """{"applications":[{"name":"a","import_path":"m.app","port":8001}]}""",
            ["route x"] = """{"applications":[{"name":"a","import_path":"m.app","route_prefix":"x"}]}""",
            ["duplicate default route"] = """{"applications":[{"name":"a","import_path":"m.app"},{"name":"b","import_path":"m.app"}]}""",
            ["negative memory"] = """{"applications":[{"name":"a","import_path":"m.app","deployments":[{"name":"MLflowModel","ray_actor_options":{"memory":-1}}]}]}""",
        };
        foreach (var (label, body) in cases)
        {
            using var response = await PutAsync(http, body);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{label}: {(int)response.StatusCode}");
            Assert.Contains("ValidationError", await response.Content.ReadAsStringAsync());
        }
        using (var envVars = await PutAsync(http, """{"applications":[{"name":"a","import_path":"m.app","runtime_env":{"env_vars":{"X":1}}}]}"""))
        {
            Assert.Equal(HttpStatusCode.BadRequest, envVars.StatusCode);
            Assert.Contains("env_vars", await envVars.Content.ReadAsStringAsync());
        }
        Assert.Empty(ray.PutBodies);
        Assert.Empty((await GetInstanceAsync(http))["applications"]!.AsObject());
    }

    [Fact]
    public async Task Injected_faults_fail_the_next_puts_and_gets()
    {
        var options = Fast();
        options.TimeProvider = new FakeTimeProvider();
        options.FailNextPuts = 1;
        options.FailNextGets = 1;
        await using var ray = await RayDashboardEmulator.StartAsync(options);
        using var http = new HttpClient { BaseAddress = ray.BaseUri };

        using (var get = await http.GetAsync(Route))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, get.StatusCode);
            Assert.StartsWith("Failed to get a response from the controller", await get.Content.ReadAsStringAsync());
        }
        using (var put = await PutAppsAsync(http, App("a"))) Assert.Equal(HttpStatusCode.InternalServerError, put.StatusCode);
        Assert.Empty((await GetInstanceAsync(http))["applications"]!.AsObject());
        using (var put = await PutAppsAsync(http, App("a"))) Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(2, ray.PutCount);
        Assert.Single(ray.PutBodies);
        Assert.Equal("DEPLOYING", ray.GetApplication("a")!["status"]!.GetValue<string>());

        using (var delete = await http.DeleteAsync(Route)) Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        Assert.Empty((await GetInstanceAsync(http))["controller_info"]!.AsObject());
    }
}
