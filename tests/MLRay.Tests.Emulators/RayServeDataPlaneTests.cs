using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using MLRay.Emulators.Ray;

namespace MLRay.Tests.Emulators;

/// <summary>The Ray emulator's Serve HTTP proxy: routing, MLRay's model app, its faults, and the gateway of docs/serving.md.</summary>
public sealed class RayServeDataPlaneTests
{
    private const string Gateway = "mlray-gateway";
    private static readonly TimeSpan BuildTime = TimeSpan.FromSeconds(1);

    /// <summary>An emulated cluster on a manual clock: apps reach RUNNING when the test advances it by <see cref="BuildTime"/>.</summary>
    private sealed class Cluster : IAsyncDisposable
    {
        public required RayDashboardEmulator Ray { get; init; }
        public required FakeTimeProvider Clock { get; init; }
        public required HttpClient Dashboard { get; init; }
        public required HttpClient Serve { get; init; }

        public static async Task<Cluster> StartAsync(int seed = 42)
        {
            var clock = new FakeTimeProvider();
            var ray = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions
            {
                BuildTime = BuildTime, TimeProvider = clock, ServeRandom = new Random(seed),
            });
            return new Cluster
            {
                Ray = ray, Clock = clock,
                Dashboard = new HttpClient { BaseAddress = ray.BaseUri },
                Serve = new HttpClient { BaseAddress = ray.ServeUri },
            };
        }

        /// <summary>PUTs the apps (a full replace) without waiting.</summary>
        public async Task PutAsync(params JsonObject[] apps)
        {
            var body = new JsonObject { ["applications"] = new JsonArray(apps.Select(a => (JsonNode)a.DeepClone()).ToArray()) };
            using var put = await Dashboard.PutAsync("/api/serve/applications/", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        /// <summary>PUTs the apps and lets them build: each ends RUNNING.</summary>
        public async Task DeployAsync(params JsonObject[] apps)
        {
            await PutAsync(apps);
            Clock.Advance(BuildTime);
            foreach (var app in apps)
                Assert.Equal("RUNNING", Status(app["name"]!.GetValue<string>()));
        }

        public string? Status(string app) => Ray.GetApplication(app)?["status"]?.GetValue<string>();

        public async Task<HttpResponseMessage> PostAsync(string path, string body, string? pin = null, string contentType = "application/json")
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            if (pin is not null) request.Headers.Add("mlray-version", pin);
            return await Serve.SendAsync(request);
        }

        public async ValueTask DisposeAsync()
        {
            Dashboard.Dispose();
            Serve.Dispose();
            await Ray.DisposeAsync();
        }
    }

    private const string OneRow = """{"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 2]]}}""";

    /// <summary>MLRay's model app for a model version: direct mode (<paramref name="route"/> set) or a gateway's version app (null).</summary>
    private static JsonObject ModelApp(string name, string? route, string model = "fraud", string version = "1") => new()
    {
        ["name"] = name,
        ["route_prefix"] = route,
        ["import_path"] = "mlray_serve.app:build",
        ["args"] = new JsonObject { ["model_uri"] = $"models:/{model}/{version}", ["mlray_model"] = model, ["mlray_version"] = version },
        ["deployments"] = new JsonArray(new JsonObject { ["name"] = "MLflowModel", ["ray_actor_options"] = new JsonObject { ["num_cpus"] = 0.5 } }),
    };

    private static JsonObject VersionApp(string version, string model = "fraud") => ModelApp($"{model}--v{version}", null, model, version);

    private static JsonObject GatewayApp(JsonObject table, string route = "/", JsonObject? args = null)
    {
        var app = new JsonObject
        {
            ["name"] = Gateway,
            ["route_prefix"] = route,
            ["import_path"] = "mlray_serve.gateway:build",
            ["deployments"] = new JsonArray(new JsonObject
            {
                ["name"] = "MLRayGateway", ["num_replicas"] = 2, ["ray_actor_options"] = new JsonObject { ["num_cpus"] = 0.1 },
                ["user_config"] = table,
            }),
        };
        if (args is not null) app["args"] = args;
        return app;
    }

    /// <summary>A routing table with one route for model <c>fraud</c>: (version, weight) pairs and (version, fraction) shadows.</summary>
    private static JsonObject Table(string route, (string Version, int Weight)[] versions, (string Version, double Fraction)[]? shadow = null, double window = 300)
    {
        var entry = new JsonObject
        {
            ["model"] = "fraud",
            ["versions"] = new JsonArray(versions.Select(v => (JsonNode)new JsonObject { ["version"] = v.Version, ["app"] = $"fraud--v{v.Version}", ["weight"] = v.Weight }).ToArray()),
        };
        if (shadow is not null)
            entry["shadow"] = new JsonArray(shadow.Select(s => (JsonNode)new JsonObject { ["version"] = s.Version, ["app"] = $"fraud--v{s.Version}", ["fraction"] = s.Fraction }).ToArray());
        return new JsonObject { ["stats_window_s"] = window, ["routes"] = new JsonObject { [route] = entry } };
    }

    private static async Task<JsonNode> JsonOf(HttpResponseMessage response) => JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

    private static string? VersionHeader(HttpResponseMessage response) =>
        response.Headers.TryGetValues("mlray-version", out var values) ? values.Single() : null;

    // ------------------------------------------------------------------ the proxy

    [Fact]
    public async Task The_proxy_routes_by_the_longest_whole_segment_prefix_and_answers_404_text_elsewhere()
    {
        await using var c = await Cluster.StartAsync();
        // No Serve yet: Ray starts its proxies with Serve, so nothing answers.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => c.Serve.GetAsync("/-/healthz"));

        await c.DeployAsync(ModelApp("a", "/a", "a"), ModelApp("ab", "/a/b", "ab"));
        using (var health = await c.Serve.GetAsync("/-/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("success", await health.Content.ReadAsStringAsync());
        }
        using (var routes = await c.Serve.GetAsync("/-/routes"))
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"/a": "a", "/a/b": "ab"}"""), await JsonOf(routes)));

        foreach (var (path, app) in new[] { ("/a", "a"), ("/a/x", "a"), ("/a/bc", "a"), ("/a/b", "ab"), ("/a/b/c", "ab") })
        {
            using var response = await c.PostAsync(path, OneRow);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(app, c.Ray.ServeCalls[^1].App);
        }
        using (var unmatched = await c.PostAsync("/abc", OneRow))
        {
            Assert.Equal(HttpStatusCode.NotFound, unmatched.StatusCode);
            Assert.Equal("text/plain; charset=utf-8", unmatched.Content.Headers.ContentType!.ToString());
            Assert.Equal("Path '/abc' not found. Ping http://.../-/routes for available routes.", await unmatched.Content.ReadAsStringAsync());
        }
        Assert.Equal(5, c.Ray.ServeCalls.Count);

        // An app at "/" takes every path no longer prefix matches.
        await c.DeployAsync(ModelApp("a", "/a", "a"), ModelApp("ab", "/a/b", "ab"), ModelApp("root", "/", "root"));
        using (var root = await c.PostAsync("/abc", OneRow)) Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("root", c.Ray.ServeCalls[^1].App);
        Assert.Equal("/abc", c.Ray.ServeRequests[^1].Path);
    }

    [Fact]
    public async Task An_app_without_a_route_is_reached_only_through_the_gateway()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(VersionApp("1"));
        Assert.Null(c.Ray.GetApplication("fraud--v1")!["route_prefix"]);
        using (var health = await c.Serve.GetAsync("/-/healthz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode); // no route at all: Ray's proxy is not ready
            Assert.Equal("Route table is not populated yet.", await health.Content.ReadAsStringAsync());
        }
        using (var direct = await c.PostAsync("/fraud--v1", OneRow)) Assert.Equal(HttpStatusCode.NotFound, direct.StatusCode);
        Assert.Empty(c.Ray.ServeCalls);

        await c.DeployAsync(VersionApp("1"), GatewayApp(Table("/fraud", [("1", 100)])));
        using (var routes = await c.Serve.GetAsync("/-/routes"))
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"/": "mlray-gateway"}"""), await JsonOf(routes)));
        using (var viaGateway = await c.PostAsync("/fraud", OneRow))
        {
            Assert.Equal(HttpStatusCode.OK, viaGateway.StatusCode);
            Assert.Equal("1", VersionHeader(viaGateway));
        }
        var call = Assert.Single(c.Ray.ServeCalls, x => x.App == "fraud--v1");
        Assert.Equal((Gateway, "/fraud", "fraud", "1", false, false, 200), (call.Gateway, call.Route, call.Model, call.Version, call.Pinned, call.Shadow, call.Status));
        using (var noRoute = await c.PostAsync("/fraud--v1", OneRow))
        {
            Assert.Equal(HttpStatusCode.NotFound, noRoute.StatusCode); // the gateway's own 404: no route of its table matches
            Assert.Equal("ENDPOINT_NOT_FOUND", (await JsonOf(noRoute))["error_code"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_new_app_is_404_while_it_builds_and_an_updating_app_keeps_serving_its_old_version()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(ModelApp("keep", "/keep", "keep"));
        await c.PutAsync(ModelApp("keep", "/keep", "keep"), ModelApp("fresh", "/fresh", "fresh"));
        Assert.Equal("DEPLOYING", c.Status("fresh"));
        // Ray registers a new app's route only once its build is done: until then the proxy has no such path.
        using (var building = await c.PostAsync("/fresh", OneRow)) Assert.Equal(HttpStatusCode.NotFound, building.StatusCode);
        c.Clock.Advance(BuildTime);
        using (var built = await c.PostAsync("/fresh", OneRow)) Assert.Equal(HttpStatusCode.OK, built.StatusCode);

        // A code update (version 2 of "keep"): the old replicas answer until the new ones run.
        c.Ray.Options.SetPredictFault("keep", "2", PredictFault.Error(503, "new version"));
        await c.PutAsync(ModelApp("keep", "/keep", "keep", "2"), ModelApp("fresh", "/fresh", "fresh"));
        Assert.Equal("DEPLOYING", c.Status("keep"));
        using (var during = await c.PostAsync("/keep", OneRow)) Assert.Equal(HttpStatusCode.OK, during.StatusCode);
        Assert.Equal("1", c.Ray.ServeCalls[^1].Version);
        c.Clock.Advance(BuildTime);
        using (var after = await c.PostAsync("/keep", OneRow))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, after.StatusCode);
            Assert.Equal("new version", await after.Content.ReadAsStringAsync());
        }

        // Built, but its replicas wait for CPUs: Ray's handle queues the request until one runs.
        await c.PutAsync(ModelApp("keep", "/keep", "keep", "2"), ModelApp("fresh", "/fresh", "fresh"), ModelApp("huge", "/huge", "huge"));
        c.Ray.Options.TotalCpus = 1;
        c.Clock.Advance(BuildTime);
        Assert.Equal("DEPLOYING", c.Status("huge"));
        using (var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => c.Serve.PostAsync("/huge", new StringContent(OneRow, Encoding.UTF8, "application/json"), soon.Token));
        c.Ray.Options.TotalCpus = 8;
        using (var scheduled = await c.PostAsync("/huge", OneRow)) Assert.Equal(HttpStatusCode.OK, scheduled.StatusCode);

        // DELETE shuts Serve down, proxies included.
        using (var delete = await c.Dashboard.DeleteAsync("/api/serve/applications/")) Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => c.PostAsync("/keep", OneRow));
    }

    // ------------------------------------------------------------------ the model app

    [Fact]
    public async Task A_model_app_answers_each_scoring_format_with_one_prediction_per_row()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(ModelApp("iris", "/iris", "iris"));
        var bodies = new (string Body, string ContentType, int Rows)[]
        {
            ("""{"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 2], [3.5, 4], [1.5, 2]]}}""", "application/json", 3),
            ("""{"dataframe_records": [{"a": 1.5, "b": 2}, {"a": 0, "b": 1}]}""", "application/json; charset=utf-8", 2),
            ("""{"instances": [[1.5, 2]], "params": {"threshold": 0.7}}""", "application/json", 1),
            ("""{"inputs": {"a": [1.5, 3.5], "b": 2}}""", "application/json", 2),
            ("a,b\n1.5,2\n3.5,4\n", "text/csv", 2),
        };
        foreach (var (body, contentType, rows) in bodies)
        {
            using var response = await c.PostAsync("/iris", body, contentType: contentType);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
            var predictions = (await JsonOf(response))["predictions"]!.AsArray();
            Assert.Equal(rows, predictions.Count);
            Assert.All(predictions, p => Assert.InRange(p!.AsArray().Single()!.GetValue<int>(), 0, 2));
        }
        // Deterministic: the same row gets the same class, in any request.
        using (var split = await c.PostAsync("/iris", bodies[0].Body))
        {
            var p = (await JsonOf(split))["predictions"]!.AsArray();
            Assert.True(JsonNode.DeepEquals(p[0], p[2]));
        }
        // The seed's {"data": [records]} is answered with the bare list.
        using (var seed = await c.PostAsync("/iris", """{"data": [{"a": 1}, {"a": 2}]}"""))
            Assert.Equal(2, (await JsonOf(seed)).AsArray().Count);
    }

    [Fact]
    public async Task A_model_app_answers_415_to_other_media_types_and_400_to_bodies_it_cannot_read()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(ModelApp("iris", "/iris", "iris"));
        foreach (var (contentType, text) in new[]
                 {
                     ("text/plain", "Unsupported content type 'text/plain'; use application/json or text/csv"),
                     ("application/json; charset=latin-1", "Unsupported content type parameter 'charset=latin-1'; only charset=utf-8 is allowed"),
                 })
        {
            using var response = await c.PostAsync("/iris", OneRow, contentType: contentType);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
            Assert.Equal(text, await response.Content.ReadAsStringAsync());
        }
        foreach (var (body, message) in new[]
                 {
                     ("""{"dataframe_split": {"columns": ["a"], "data": [[1]]}, "inputs": [1]}""", "got keys ['dataframe_split', 'inputs']"),
                     ("{}", "got keys []"),
                     ("""{"instances": [1], "extra": 1}""", "got keys ['extra', 'instances']"),
                     ("[1, 2]", "got a JSON list"),
                     ("{not json", "The body is not valid JSON"),
                     ("""{"instances": [1], "params": [1]}""", "params must be a JSON object; got a JSON list"),
                     ("""{"dataframe_records": [1, 2]}""", "dataframe_records must be a list of records"),
                 })
        {
            using var response = await c.PostAsync("/iris", body);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = await JsonOf(response);
            Assert.Equal("BAD_REQUEST", error["error_code"]!.GetValue<string>());
            Assert.Contains(message, error["message"]!.GetValue<string>());
        }
    }

    // ------------------------------------------------------------------ faults

    [Fact]
    public async Task A_version_fault_answers_its_status_in_direct_mode_and_through_the_gateway_and_spares_other_versions()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(ModelApp("fraud", "/direct", "fraud", "3"), VersionApp("2"), VersionApp("3"),
            GatewayApp(Table("/fraud", [("2", 0), ("3", 100)])));
        c.Ray.Options.SetPredictFault("fraud", "3", PredictFault.Error());

        using (var direct = await c.PostAsync("/direct", OneRow))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, direct.StatusCode);
            var text = await direct.Content.ReadAsStringAsync();
            Assert.StartsWith("Traceback (most recent call last):", text);
            Assert.Contains("RuntimeError: injected fault of model 'fraud' version '3' (application 'fraud')", text);
        }
        using (var gateway = await c.PostAsync("/fraud", OneRow))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, gateway.StatusCode); // the version app's answer, passed through
            Assert.Equal("3", VersionHeader(gateway));
            Assert.Contains("(application 'fraud--v3')", await gateway.Content.ReadAsStringAsync());
        }
        using (var other = await c.PostAsync("/fraud", OneRow, pin: "2")) Assert.Equal(HttpStatusCode.OK, other.StatusCode);

        c.Ray.Options.ClearPredictFault("fraud", "3");
        using (var healed = await c.PostAsync("/direct", OneRow)) Assert.Equal(HttpStatusCode.OK, healed.StatusCode);
        Assert.Equal([500, 500, 200, 200], c.Ray.ServeCalls.Where(x => x.App != Gateway).Select(x => x.Status));
    }

    [Fact]
    public async Task A_malformed_json_fault_answers_200_with_a_body_that_does_not_parse()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(ModelApp("fraud", "/direct", "fraud", "3"));
        c.Ray.Options.SetPredictFault("fraud", "3", PredictFault.Malformed());
        using var response = await c.PostAsync("/direct", OneRow);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.ThrowsAny<JsonException>(() => JsonNode.Parse(body));
    }

    [Fact]
    public async Task A_slow_version_answers_late_directly_and_the_gateway_gives_up_on_it_with_502_naming_the_version()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(ModelApp("fraud", "/direct", "fraud", "3"), VersionApp("3"), GatewayApp(Table("/fraud", [("3", 100)])));
        c.Ray.Options.SetPredictFault("fraud", "3", PredictFault.Slow(TimeSpan.FromMilliseconds(400)));
        c.Ray.Options.GatewayCallTimeout = TimeSpan.FromMilliseconds(100);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        using (var direct = await c.PostAsync("/direct", OneRow)) Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(380), $"answered after {watch.Elapsed}");

        using var gateway = await c.PostAsync("/fraud", OneRow);
        Assert.Equal(HttpStatusCode.BadGateway, gateway.StatusCode);
        Assert.Equal("3", VersionHeader(gateway));
        var error = await JsonOf(gateway);
        Assert.Equal("3", error["version"]!.GetValue<string>());
        Assert.Contains("Version '3'", error["message"]!.GetValue<string>());
        Assert.Equal(502, c.Ray.ServeCalls.Single(x => x.App == "fraud--v3").Status);
    }

    [Fact]
    public async Task A_fault_with_a_probability_hits_that_fraction_of_requests()
    {
        await using var c = await Cluster.StartAsync(seed: 11);
        await c.DeployAsync(ModelApp("fraud", "/direct", "fraud", "3"));
        c.Ray.Options.SetPredictFault("fraud", "3", PredictFault.Error() with { Probability = 0.1 });
        var failed = 0;
        for (var i = 0; i < 1000; i++)
        {
            using var response = await c.PostAsync("/direct", OneRow);
            if (response.StatusCode == HttpStatusCode.InternalServerError) failed++;
            else Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.InRange(failed, 60, 140);
    }

    // ------------------------------------------------------------------ the gateway

    [Fact]
    public async Task The_gateway_draws_unpinned_requests_by_weight()
    {
        await using var c = await Cluster.StartAsync(seed: 7);
        await c.DeployAsync(VersionApp("2"), VersionApp("3"), GatewayApp(Table("/fraud", [("2", 20), ("3", 80)])));
        var headers = new Dictionary<string, int>();
        for (var i = 0; i < 1000; i++)
        {
            using var response = await c.PostAsync("/fraud/score", OneRow);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var version = VersionHeader(response)!;
            headers[version] = headers.GetValueOrDefault(version) + 1;
        }
        var v2 = c.Ray.ServeCalls.Count(x => x.App == "fraud--v2" && !x.Pinned && !x.Shadow);
        var v3 = c.Ray.ServeCalls.Count(x => x.App == "fraud--v3" && !x.Pinned && !x.Shadow);
        Assert.Equal(1000, v2 + v3);
        Assert.InRange(v2, 160, 240);
        Assert.Equal(v2, headers["2"]);
        Assert.Equal(v3, headers["3"]);
    }

    [Fact]
    public async Task A_pin_reaches_any_listed_version_weight_0_and_shadows_included_and_an_unknown_one_is_404_listing_them()
    {
        await using var c = await Cluster.StartAsync();
        var table = Table("/fraud", [("2", 100), ("3", 0)], shadow: [("4", 0.0)]);
        table["routes"]!["/dark"] = new JsonObject
        {
            ["model"] = "fraud",
            ["versions"] = new JsonArray(new JsonObject { ["version"] = "2", ["app"] = "fraud--v2", ["weight"] = 0 },
                new JsonObject { ["version"] = "5", ["app"] = "fraud--v5", ["weight"] = 0 }),
        };
        await c.DeployAsync(VersionApp("2"), VersionApp("3"), VersionApp("4"), GatewayApp(table));

        foreach (var pin in new[] { "3", "4", "2" })
        {
            using var pinned = await c.PostAsync("/fraud", OneRow, pin: pin);
            Assert.Equal(HttpStatusCode.OK, pinned.StatusCode);
            Assert.Equal(pin, VersionHeader(pinned));
            var call = c.Ray.ServeCalls[^2]; // then the proxy's call of the gateway
            Assert.Equal(($"fraud--v{pin}", true, false), (call.App, call.Pinned, call.Shadow));
        }
        using (var unknown = await c.PostAsync("/fraud", OneRow, pin: "9"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            var error = await JsonOf(unknown);
            Assert.Equal("RESOURCE_DOES_NOT_EXIST", error["error_code"]!.GetValue<string>());
            Assert.Equal(["2", "3", "4"], error["versions"]!.AsArray().Select(v => v!.GetValue<string>()));
        }
        using (var noWeight = await c.PostAsync("/dark", OneRow))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, noWeight.StatusCode);
            Assert.Equal("TEMPORARILY_UNAVAILABLE", (await JsonOf(noWeight))["error_code"]!.GetValue<string>());
        }
        using (var pinnedDark = await c.PostAsync("/dark/x", OneRow, pin: "2")) Assert.Equal(HttpStatusCode.OK, pinnedDark.StatusCode);
        using (var missingApp = await c.PostAsync("/dark", OneRow, pin: "5"))
        {
            Assert.Equal(HttpStatusCode.BadGateway, missingApp.StatusCode); // fraud--v5 does not exist
            Assert.Equal("5", (await JsonOf(missingApp))["version"]!.GetValue<string>());
        }
        Assert.DoesNotContain(c.Ray.ServeCalls, x => x.Shadow); // fraction 0, and pinned requests are never shadowed
    }

    [Fact]
    public async Task Shadow_copies_go_to_their_fraction_of_unpinned_requests_and_clients_see_only_the_champion()
    {
        await using var c = await Cluster.StartAsync(seed: 3);
        await c.DeployAsync(VersionApp("2"), VersionApp("4"), GatewayApp(Table("/fraud", [("2", 100)], shadow: [("4", 0.25)])));
        c.Ray.Options.SetPredictFault("fraud", "4", PredictFault.Error()); // a shadow's failure never reaches the client
        for (var i = 0; i < 1000; i++)
        {
            using var response = await c.PostAsync("/fraud", OneRow);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("2", VersionHeader(response));
        }
        await c.Ray.WhenShadowCallsDoneAsync();
        var shadows = c.Ray.ServeCalls.Where(x => x.Shadow).ToList();
        Assert.All(shadows, x => Assert.Equal(("fraud--v4", 500, false), (x.App, x.Status, x.Pinned)));
        Assert.InRange(shadows.Count, 210, 290);

        for (var i = 0; i < 100; i++)
            using (var pinned = await c.PostAsync("/fraud", OneRow, pin: "2")) Assert.Equal(HttpStatusCode.OK, pinned.StatusCode);
        await c.Ray.WhenShadowCallsDoneAsync();
        Assert.Equal(shadows.Count, c.Ray.ServeCalls.Count(x => x.Shadow));

        using var stats = await c.Serve.GetAsync("/mlray-gateway/stats");
        var v4 = (await JsonOf(stats))["routes"]!["/fraud"]!["versions"]!["4"]!;
        Assert.Equal(shadows.Count, v4["requests"]!.GetValue<int>());
        Assert.Equal(shadows.Count, v4["errors"]!.GetValue<int>());
        Assert.True(v4["shadow"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Stats_count_each_version_over_a_sliding_window_in_the_documented_shape()
    {
        await using var c = await Cluster.StartAsync();
        await c.DeployAsync(VersionApp("2"), VersionApp("3"), VersionApp("4"),
            GatewayApp(Table("/gw/fraud", [("2", 90), ("3", 10)], shadow: [("4", 0.0)], window: 60), route: "/gw")); // keys include the gateway's prefix
        c.Ray.Options.SetPredictFault("fraud", "3", PredictFault.Error(503));
        for (var i = 0; i < 4; i++) (await c.PostAsync("/gw/fraud", OneRow, pin: "2")).Dispose();
        c.Clock.Advance(TimeSpan.FromSeconds(30));
        for (var i = 0; i < 2; i++) (await c.PostAsync("/gw/fraud", OneRow, pin: "3")).Dispose();
        var calls = c.Ray.ServeCalls.Count;

        using (var response = await c.Serve.GetAsync("/gw/mlray-gateway/stats"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var stats = await JsonOf(response);
            Assert.Equal(["window_s", "routes"], stats.AsObject().Select(kv => kv.Key));
            Assert.Equal(60, stats["window_s"]!.GetValue<int>());
            var route = stats["routes"]!["/gw/fraud"]!;
            Assert.Equal(["/gw/fraud"], stats["routes"]!.AsObject().Select(kv => kv.Key));
            Assert.Equal("fraud", route["model"]!.GetValue<string>());
            Assert.Equal(["2", "3", "4"], route["versions"]!.AsObject().Select(kv => kv.Key));
            foreach (var (version, entry) in route["versions"]!.AsObject())
                Assert.Equal(["requests", "errors", "p50_ms", "p99_ms", "shadow"], entry!.AsObject().Select(kv => kv.Key));
            var v2 = route["versions"]!["2"]!;
            Assert.Equal((4, 0, false), (v2["requests"]!.GetValue<int>(), v2["errors"]!.GetValue<int>(), v2["shadow"]!.GetValue<bool>()));
            Assert.True(v2["p50_ms"]!.GetValue<double>() >= 0 && v2["p99_ms"]!.GetValue<double>() >= v2["p50_ms"]!.GetValue<double>());
            var v3 = route["versions"]!["3"]!;
            Assert.Equal((2, 2), (v3["requests"]!.GetValue<int>(), v3["errors"]!.GetValue<int>()));
            var v4 = route["versions"]!["4"]!;
            Assert.Equal((0, 0, true), (v4["requests"]!.GetValue<int>(), v4["errors"]!.GetValue<int>(), v4["shadow"]!.GetValue<bool>()));
            Assert.Null(v4["p50_ms"]);
            Assert.Null(v4["p99_ms"]);
        }
        Assert.Equal(calls + 1, c.Ray.ServeCalls.Count); // only the proxy's call of the gateway: the stats path is never a model's

        c.Clock.Advance(TimeSpan.FromSeconds(31)); // version 2's requests are now 61 s old, version 3's 31 s
        using (var response = await c.Serve.GetAsync("/gw/mlray-gateway/stats"))
        {
            var versions = (await JsonOf(response))["routes"]!["/gw/fraud"]!["versions"]!;
            Assert.Equal(0, versions["2"]!["requests"]!.GetValue<int>());
            Assert.Null(versions["2"]!["p50_ms"]);
            Assert.Equal(2, versions["3"]!["requests"]!.GetValue<int>());
        }
        c.Clock.Advance(TimeSpan.FromSeconds(30));
        using (var response = await c.Serve.GetAsync("/gw/mlray-gateway/stats"))
            Assert.Equal(0, (await JsonOf(response))["routes"]!["/gw/fraud"]!["versions"]!["3"]!["requests"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_user_config_only_update_reconfigures_the_live_gateway_while_an_args_change_restarts_it()
    {
        await using var c = await Cluster.StartAsync();
        var apps = new[] { VersionApp("2"), VersionApp("3") };
        await c.DeployAsync([.. apps, GatewayApp(Table("/fraud", [("2", 100), ("3", 0)]))]);
        var starts = c.Ray.ReplicaStarts[Gateway];
        var builds = c.Ray.Builds.Count;
        Assert.Equal(2, starts); // num_replicas: 2
        using (var before = await c.PostAsync("/fraud", OneRow)) Assert.Equal("2", VersionHeader(before));

        // Only user_config changes: Ray calls reconfigure on the live replicas, which serve throughout.
        await c.PutAsync([.. apps, GatewayApp(Table("/fraud", [("2", 0), ("3", 100)]))]);
        Assert.Equal("DEPLOYING", c.Status(Gateway));
        using (var during = await c.PostAsync("/fraud", OneRow))
        {
            Assert.Equal(HttpStatusCode.OK, during.StatusCode);
            Assert.Equal("2", VersionHeader(during));
        }
        c.Clock.Advance(BuildTime);
        Assert.Equal("RUNNING", c.Status(Gateway));
        using (var after = await c.PostAsync("/fraud", OneRow)) Assert.Equal("3", VersionHeader(after));
        Assert.Equal(starts, c.Ray.ReplicaStarts[Gateway]);
        Assert.Equal(builds, c.Ray.Builds.Count);
        using (var kept = await c.Serve.GetAsync("/mlray-gateway/stats")) // the replicas' counters survive a reconfigure
            Assert.Equal(2, (await JsonOf(kept))["routes"]!["/fraud"]!["versions"]!["2"]!["requests"]!.GetValue<int>());

        // args change the code version: a rebuild and new replicas; the old ones serve until then.
        await c.PutAsync([.. apps, GatewayApp(Table("/fraud", [("2", 0), ("3", 100)]), args: new JsonObject { ["log_level"] = "debug" })]);
        using (var building = await c.PostAsync("/fraud", OneRow)) Assert.Equal(HttpStatusCode.OK, building.StatusCode);
        c.Clock.Advance(BuildTime);
        Assert.Equal("RUNNING", c.Status(Gateway));
        Assert.Equal(starts + 2, c.Ray.ReplicaStarts[Gateway]);
        Assert.Equal(builds + 1, c.Ray.Builds.Count);
        using (var reset = await c.Serve.GetAsync("/mlray-gateway/stats")) // new replicas count from nothing
            Assert.Equal(0, (await JsonOf(reset))["routes"]!["/fraud"]!["versions"]!["3"]!["requests"]!.GetValue<int>());
    }
}
