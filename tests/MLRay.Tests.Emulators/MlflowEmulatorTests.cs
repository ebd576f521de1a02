using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MLRay.Emulators.Mlflow;

namespace MLRay.Tests.Emulators;

public sealed class MlflowEmulatorTests
{
    private static async Task<(HttpStatusCode Status, JsonObject? Json, string Text)> GetAsync(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        JsonObject? json = null;
        try { json = JsonNode.Parse(text) as JsonObject; } catch (System.Text.Json.JsonException) { }
        return (response.StatusCode, json, text);
    }

    private static async Task<HttpResponseMessage> SendJsonAsync(HttpClient http, HttpMethod method, string url, object body)
    {
        var request = new HttpRequestMessage(method, url)
        {
            Content = new StringContent(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        return await http.SendAsync(request);
    }

    [Fact]
    public async Task Search_registered_models_pages_with_next_page_token_and_rejects_too_large_pages()
    {
        await using var mlflow = await MlflowEmulator.StartAsync();
        var expected = new[] { "m.a", "m.b", "m.c", "m.d", "m.e" };
        foreach (var name in expected.Reverse()) mlflow.CreateRegisteredModel(name);
        mlflow.CreateRegisteredModel("other");
        mlflow.CreateRegisteredModel("M.upper");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };

        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var url = "/api/2.0/mlflow/registered-models/search?max_results=2&filter=" + Uri.EscapeDataString("name LIKE 'm.%'")
                + (token is null ? "" : "&page_token=" + Uri.EscapeDataString(token));
            var (status, json, text) = await GetAsync(http, url);
            Assert.True(status == HttpStatusCode.OK, text);
            foreach (var rm in json!["registered_models"]!.AsArray()) seen.Add(rm!["name"]!.GetValue<string>());
            token = json["next_page_token"]?.GetValue<string>();
            pages++;
        } while (token is not null && pages < 10);

        Assert.Equal(3, pages);
        Assert.Equal(expected, seen); // name ASC, LIKE is case-sensitive (M.upper excluded)

        var (ilikeStatus, ilike, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/search?filter=" + Uri.EscapeDataString("name ILIKE 'm.%'"));
        Assert.Equal(HttpStatusCode.OK, ilikeStatus);
        Assert.Null(ilike!["next_page_token"]);
        Assert.Equal(6, ilike["registered_models"]!.AsArray().Count);
        var (_, single, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/search?filter=" + Uri.EscapeDataString("name LIKE 'm._'"));
        Assert.Equal(5, single!["registered_models"]!.AsArray().Count);

        var (emptyStatus, empty, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/search?filter=" + Uri.EscapeDataString("name = 'nope'"));
        Assert.Equal(HttpStatusCode.OK, emptyStatus);
        Assert.Empty(empty!); // registered_models omitted when empty

        var (tooMany, error, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/search?max_results=1001");
        Assert.Equal(HttpStatusCode.BadRequest, tooMany);
        Assert.Equal("INVALID_PARAMETER_VALUE", error!["error_code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Search_model_versions_takes_string_comparators_on_name_pages_with_tags_but_no_aliases_and_counts_requests()
    {
        await using var mlflow = await MlflowEmulator.StartAsync();
        foreach (var name in new[] { "a.staging", "b.staging", "c.prod" })
        {
            mlflow.CreateRegisteredModel(name);
            mlflow.CreateModelVersion(name, "s3://bucket/" + name);
            mlflow.CreateModelVersion(name, "s3://bucket/" + name);
        }
        mlflow.SetModelVersionTag("a.staging", "2", "ray.num_replicas", "3");
        mlflow.SetAlias("a.staging", "champion", "2");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };
        string Search(string filter, int max) => $"/api/2.0/mlflow/model-versions/search?max_results={max}&filter={Uri.EscapeDataString(filter)}";

        var seen = new List<JsonObject>();
        string? token = null;
        var pages = 0;
        do
        {
            var (status, json, text) = await GetAsync(http, Search("name LIKE '%.staging'", 3) + (token is null ? "" : "&page_token=" + Uri.EscapeDataString(token)));
            Assert.True(status == HttpStatusCode.OK, text);
            seen.AddRange(json!["model_versions"]!.AsArray().Select(v => v!.AsObject()));
            token = json["next_page_token"]?.GetValue<string>();
            pages++;
        } while (token is not null && pages < 10);

        Assert.Equal(2, pages);
        Assert.Equal(["a.staging/1", "a.staging/2", "b.staging/1", "b.staging/2"],
            seen.Select(v => $"{v["name"]}/{v["version"]}").Order());
        var tagged = seen.Single(v => (string)v["name"]! == "a.staging" && (string)v["version"]! == "2");
        Assert.Equal("3", (string)tagged["tags"]![0]!["value"]!);
        Assert.Equal("READY", (string)tagged["status"]!);
        Assert.Null(tagged["aliases"]); // MLflow's SQL store passes no aliases on searched versions

        foreach (var (filter, count) in new[] { ("name != 'c.prod'", 4), ("name IN ('a.staging', 'c.prod')", 4), ("name ILIKE '%.STAGING'", 4), ("name = 'b.staging'", 2) })
        {
            var (_, json, text) = await GetAsync(http, Search(filter, 100));
            Assert.True(json?["model_versions"]?.AsArray().Count == count, $"{filter}: {text}");
        }
        var (tooMany, _, _) = await GetAsync(http, Search("name = 'a.staging'", 200001));
        Assert.Equal(HttpStatusCode.BadRequest, tooMany);

        mlflow.Faults.RefuseVersionNameLike = true;
        var (refused, error, _) = await GetAsync(http, Search("name LIKE '%.staging'", 100));
        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.Equal("INVALID_PARAMETER_VALUE", (string)error!["error_code"]!);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, Search("name = 'a.staging'", 100))).Status);

        var counts = mlflow.RequestCounts();
        Assert.Equal(2 + 4 + 1 + 2, counts["model-versions/search"]);
        Assert.Equal(1, mlflow.RequestCounts(since: mlflow.Requests.Count - 1)["model-versions/search"]);
    }

    [Fact]
    public async Task An_unknown_alias_is_400_INVALID_PARAMETER_VALUE_and_an_unknown_model_is_404()
    {
        await using var mlflow = await MlflowEmulator.StartAsync();
        mlflow.CreateModelVersion("fraud", "models:/m-0123456789abcdef0123456789abcdef");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };

        var (status, json, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/alias?name=fraud&alias=champion");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("INVALID_PARAMETER_VALUE", json!["error_code"]!.GetValue<string>());
        Assert.Equal("Registered model alias champion not found.", json["message"]!.GetValue<string>());

        var (missing, missingJson, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/get?name=nope");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("RESOURCE_DOES_NOT_EXIST", missingJson!["error_code"]!.GetValue<string>());

        var (noParam, noParamJson, _) = await GetAsync(http, "/api/2.0/mlflow/model-versions/get?name=fraud");
        Assert.Equal(HttpStatusCode.BadRequest, noParam);
        Assert.Equal("INVALID_PARAMETER_VALUE", noParamJson!["error_code"]!.GetValue<string>());

        var (unknownPath, unknownJson, _) = await GetAsync(http, "/api/2.0/mlflow/no-such-endpoint");
        Assert.Equal(HttpStatusCode.NotFound, unknownPath);
        Assert.Equal("ENDPOINT_NOT_FOUND", unknownJson!["error_code"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_model_version_omits_unset_fields_and_shows_aliases_on_get_only()
    {
        await using var mlflow = await MlflowEmulator.StartAsync();
        mlflow.CreateRegisteredModel("iris");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };

        using (var create = await SendJsonAsync(http, HttpMethod.Post, "/api/2.0/mlflow/model-versions/create",
                   new { name = "iris", source = "mlflow-artifacts:/1/abc/artifacts/model" }))
        {
            Assert.Equal(HttpStatusCode.OK, create.StatusCode);
            var mv = JsonNode.Parse(await create.Content.ReadAsStringAsync())!["model_version"]!.AsObject();
            Assert.Equal("1", mv["version"]!.GetValue<string>());
            foreach (var absent in new[] { "description", "run_id", "aliases", "tags", "user_id" })
                Assert.False(mv.ContainsKey(absent), $"'{absent}' should be omitted: {mv.ToJsonString()}");
            Assert.Equal(System.Text.Json.JsonValueKind.Number, mv["creation_timestamp"]!.GetValueKind());
        }

        using (var alias = await SendJsonAsync(http, HttpMethod.Post, "/api/2.0/mlflow/registered-models/alias",
                   new { name = "iris", alias = "champion", version = "1" }))
        {
            Assert.Equal(HttpStatusCode.OK, alias.StatusCode);
            Assert.Equal("{}", await alias.Content.ReadAsStringAsync());
        }

        var (_, got, _) = await GetAsync(http, "/api/2.0/mlflow/model-versions/get?name=iris&version=1");
        Assert.Equal("[\"champion\"]", got!["model_version"]!["aliases"]!.ToJsonString());

        var (_, byAlias, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/alias?name=iris&alias=champion");
        Assert.Equal("1", byAlias!["model_version"]!["version"]!.GetValue<string>());

        var (_, rm, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/get?name=iris");
        var model = rm!["registered_model"]!.AsObject();
        Assert.False(model.ContainsKey("description"));
        Assert.Equal("[{\"alias\":\"champion\",\"version\":\"1\"}]", model["aliases"]!.ToJsonString());
        Assert.Equal("1", model["latest_versions"]![0]!["version"]!.GetValue<string>());

        var (_, search, _) = await GetAsync(http, "/api/2.0/mlflow/model-versions/search?filter=" + Uri.EscapeDataString("name='iris'"));
        var hit = search!["model_versions"]![0]!.AsObject();
        Assert.False(hit.ContainsKey("aliases"));

        var (_, uri, _) = await GetAsync(http, "/api/2.0/mlflow/model-versions/get-download-uri?name=iris&version=1");
        Assert.Equal("mlflow-artifacts:/1/abc/artifacts/model", uri!["artifact_uri"]!.GetValue<string>());

        // DELETE takes a JSON body; deleting the version removes its alias too.
        using (var deleteTag = await SendJsonAsync(http, HttpMethod.Delete, "/api/2.0/mlflow/registered-models/alias", new { name = "iris", alias = "champion" }))
            Assert.Equal(HttpStatusCode.OK, deleteTag.StatusCode);
        var (afterDelete, _, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/alias?name=iris&alias=champion");
        Assert.Equal(HttpStatusCode.BadRequest, afterDelete);

        // POST with a non-JSON content type is refused like MLflow does.
        using var wrongType = await http.PostAsync("/api/2.0/mlflow/registered-models/create", new StringContent("{\"name\":\"x\"}"));
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);
    }

    [Fact]
    public async Task The_artifact_proxy_serves_stored_bytes_and_lists_basenames()
    {
        await using var mlflow = await MlflowEmulator.StartAsync();
        var binary = new byte[] { 0, 1, 2, 0xff, 0xfe, 0x80, 10, 13 };
        mlflow.PutArtifact("mlflow-artifacts:/1/models/m-abc/artifacts/model.cb", binary);
        mlflow.PutArtifact("mlflow-artifacts:/1/models/m-abc/artifacts/MLmodel", "flavors: {}\n");
        mlflow.PutArtifact("mlflow-artifacts:/1/models/m-abc/artifacts/code/serve.py", "print(1)\n");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };

        using (var file = await http.GetAsync("/api/2.0/mlflow-artifacts/artifacts/1/models/m-abc/artifacts/model.cb"))
        {
            Assert.Equal(HttpStatusCode.OK, file.StatusCode);
            Assert.Equal("application/octet-stream", file.Content.Headers.ContentType!.MediaType);
            Assert.Equal(binary, await file.Content.ReadAsByteArrayAsync());
        }

        var (_, list, _) = await GetAsync(http, "/api/2.0/mlflow-artifacts/artifacts?path=" + Uri.EscapeDataString("1/models/m-abc/artifacts"));
        var files = list!["files"]!.AsArray().Select(f => f!.AsObject()).ToList();
        Assert.Equal(["MLmodel", "code", "model.cb"], files.Select(f => f["path"]!.GetValue<string>()));
        Assert.True(files[1]["is_dir"]!.GetValue<bool>());
        Assert.False(files[1].ContainsKey("file_size"));
        Assert.Equal(binary.Length, files[2]["file_size"]!.GetValue<long>());

        var (_, emptyList, emptyText) = await GetAsync(http, "/api/2.0/mlflow-artifacts/artifacts?path=nothing/here");
        Assert.Equal("{}", emptyText);

        var (missing, missingJson, _) = await GetAsync(http, "/api/2.0/mlflow-artifacts/artifacts/1/models/m-abc/artifacts/nope.txt");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("RESOURCE_DOES_NOT_EXIST", missingJson!["error_code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Auth_and_faults()
    {
        await using var mlflow = await MlflowEmulator.StartAsync(new MlflowEmulatorOptions { RequiredBearerToken = "s3cret" });
        mlflow.CreateRegisteredModel("a");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };

        var (anonymous, anonJson, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/get?name=a");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous);
        Assert.Equal("UNAUTHENTICATED", anonJson!["error_code"]!.GetValue<string>());

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        mlflow.Faults.FailNext = 1;
        var (failed, failedJson, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/get?name=a");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed);
        Assert.Equal("TEMPORARILY_UNAVAILABLE", failedJson!["error_code"]!.GetValue<string>());

        var (ok, _, _) = await GetAsync(http, "/api/2.0/mlflow/registered-models/get?name=a");
        Assert.Equal(HttpStatusCode.OK, ok);
        var statuses = mlflow.Requests.Select(r => r.Status).ToList();
        Assert.Equal([401, 503, 200], statuses);
        Assert.Equal("name=a", mlflow.Requests[2].Query);
        Assert.Equal("/api/2.0/mlflow/registered-models/get", mlflow.Requests[2].Path);
    }

    [Fact]
    public async Task A_webhook_is_delivered_with_MLflows_signature()
    {
        // A throw-away receiver on a free loopback port.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var received = listener.GetContextAsync();

        await using var mlflow = await MlflowEmulator.StartAsync();
        mlflow.CreateRegisteredModel("fraud");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };
        using (var create = await SendJsonAsync(http, HttpMethod.Post, "/api/2.0/mlflow/webhooks", new
               {
                   name = "deployer",
                   url = $"http://127.0.0.1:{port}/hooks",
                   events = new[] { new { entity = "MODEL_VERSION", action = "CREATED" } },
                   secret = "whsec-demo-please-change",
               }))
        {
            Assert.Equal(HttpStatusCode.OK, create.StatusCode);
            var hook = JsonNode.Parse(await create.Content.ReadAsStringAsync())!["webhook"]!.AsObject();
            Assert.False(hook.ContainsKey("secret"));
        }

        using (var mv = await SendJsonAsync(http, HttpMethod.Post, "/api/2.0/mlflow/model-versions/create", new { name = "fraud", source = "models:/m-0123456789abcdef0123456789abcdef" }))
            Assert.Equal(HttpStatusCode.OK, mv.StatusCode);

        var ctx = await received.WaitAsync(TimeSpan.FromSeconds(10));
        string body;
        using (var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = await reader.ReadToEndAsync();
        var id = ctx.Request.Headers["X-MLflow-Delivery-Id"]!;
        var ts = ctx.Request.Headers["X-MLflow-Timestamp"]!;
        var signature = ctx.Request.Headers["X-MLflow-Signature"]!;
        ctx.Response.StatusCode = 200;
        ctx.Response.Close();

        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes("whsec-demo-please-change"), Encoding.UTF8.GetBytes($"{id}.{ts}.{body}"));
        Assert.Equal("v1," + Convert.ToBase64String(mac), signature);
        Assert.Equal("application/json", ctx.Request.ContentType);
        Assert.StartsWith("{\"entity\": \"model_version\", \"action\": \"created\", \"timestamp\": \"", body);
        Assert.Contains("\"data\": {\"name\": \"fraud\", \"version\": \"1\", \"source\": \"models:/m-0123456789abcdef0123456789abcdef\", \"run_id\": null, \"tags\": {}, \"description\": null}}", body);
    }

    [Fact]
    public async Task Deleting_a_version_removes_its_aliases()
    {
        await using var mlflow = await MlflowEmulator.StartAsync();
        var v1 = mlflow.CreateModelVersion("m", "s3://bucket/m/1");
        var v2 = mlflow.CreateModelVersion("m", "s3://bucket/m/2", runId: "abc", tags: new Dictionary<string, string> { ["deploy.target"] = "ray" });
        Assert.Equal(("1", "2"), (v1, v2));
        mlflow.SetAlias("m", "champion", "2");
        mlflow.SetModelVersionTag("m", "2", "deploy.status", "ok");
        Assert.Equal("ok", mlflow.GetModelVersionTags("m", "2")["deploy.status"]);
        mlflow.DeleteModelVersion("m", "2");
        using var http = new HttpClient { BaseAddress = mlflow.BaseUri };
        using var response = await http.GetAsync("/api/2.0/mlflow/registered-models/alias?name=m&alias=champion");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("3", mlflow.CreateModelVersion("m", "s3://bucket/m/3")); // version numbers are never reused
    }
}
