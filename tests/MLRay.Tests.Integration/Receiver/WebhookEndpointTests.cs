using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MLRay.Pipeline.Messages;
using MLRay.Receiver.Webhooks;

namespace MLRay.Tests.Receiver;

/// <summary>The real receiver over HTTP: signed requests in, RegistryChanged out through the in-memory bus.</summary>
public sealed class WebhookEndpointTests
{
    private const string Body = MlflowTestVector.VectorBody;

    private static string TagSet(string key) =>
        $$$"""{"entity": "model_version_tag", "action": "set", "timestamp": "2025-08-19T10:42:00.000001+00:00", "data": {"name": "fraud.staging", "version": "3", "key": "{{{key}}}", "value": "x"}}""";

    private static async Task<JsonObject> Json(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    private static async Task AssertStatus(HttpStatusCode expected, HttpResponseMessage response) =>
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");

    [Fact]
    public async Task The_contract_test_vector_is_queued_as_one_registry_changed_with_the_delivery_id()
    {
        await using var host = await ReceiverHost.StartAsync();
        var response = await host.PostAsync(Body, MlflowTestVector.VectorDeliveryId, MlflowTestVector.VectorTimestamp,
            signature: MlflowTestVector.VectorSignature);

        await AssertStatus(HttpStatusCode.Accepted, response);
        Assert.True((await Json(response))["queued"]!.GetValue<bool>());
        var published = Assert.Single(host.Harness.Published.Select<RegistryChanged>());
        Assert.Equal(new RegistryChanged
        {
            RegisteredModel = "fraud.staging", Version = "3", Alias = null, Reason = "model_version.created",
            DeliveryId = MlflowTestVector.VectorDeliveryId, QueuedAt = ReceiverHost.Now, // stamped on arrival: a reconcile that began reading later answers it
        }, published.Context.Message);
        Assert.Equal(MlflowTestVector.VectorDeliveryId, published.Context.Headers.Get<string>("mlray-delivery-id"));
        // A queued webhook is a decision: one Information line (the request's, with the model), unlike an ignored one.
        await PipelineWorld.WaitUntil(() => host.Logs.ToString().Contains("/webhooks/mlflow", StringComparison.Ordinal), seconds: 5, what: "the request line");
        Assert.Contains("fraud.staging", host.Logs.ToString());
    }

    [Fact]
    public async Task An_alias_event_carries_alias_and_version()
    {
        await using var host = await ReceiverHost.StartAsync();
        var response = await host.PostAsync("""{"entity": "model_version_alias", "action": "created", "timestamp": "2025-08-19T10:41:02.000001+00:00", "data": {"name": "fraud.staging", "alias": "champion", "version": "3"}}""", "alias-1");
        await AssertStatus(HttpStatusCode.Accepted, response);
        var message = Assert.Single(host.Published());
        Assert.Equal(("fraud.staging", "3", "champion", "model_version_alias.created", "alias-1"),
            (message.RegisteredModel, message.Version, message.Alias, message.Reason, message.DeliveryId));
    }

    [Fact]
    public async Task One_body_byte_changed_is_401_and_nothing_is_published()
    {
        await using var host = await ReceiverHost.StartAsync();
        var body = Encoding.UTF8.GetBytes(Body);
        var signature = MlflowSignature.Compute(ReceiverHost.Secret, "d-1", host.NowSeconds, body);
        body[Body.IndexOf("\"3\"", StringComparison.Ordinal) + 1] = (byte)'4';   // version "3" → "4"

        var response = await host.PostAsync(body, "d-1", signature: signature);

        await AssertStatus(HttpStatusCode.Unauthorized, response);
        Assert.Empty(host.Published());
    }

    [Theory]
    [InlineData("wrong-secret")]
    [InlineData("missing")]
    [InlineData("sha256")]
    [InlineData("empty")]
    public async Task Bad_signatures_are_401(string kind)
    {
        await using var host = await ReceiverHost.StartAsync();
        var bodyHex = Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(
            Encoding.UTF8.GetBytes(ReceiverHost.Secret), Encoding.UTF8.GetBytes(Body)));
        var response = kind switch
        {
            "wrong-secret" => await host.PostAsync(Body, signWith: "whsec-demo-please-change-2"),
            "missing" => await host.PostAsync(Body, signWith: null),
            "sha256" => await host.PostAsync(Body, signature: "sha256=" + bodyHex),
            _ => await host.PostAsync(Body, signature: "v1,"),
        };
        await AssertStatus(HttpStatusCode.Unauthorized, response);
        Assert.Empty(host.Published());
        Assert.Contains("mlray_webhooks_total{outcome=\"unauthorized\"} 1", await host.MetricsAsync());
    }

    [Theory]
    [InlineData(-301, HttpStatusCode.BadRequest)]
    [InlineData(120, HttpStatusCode.BadRequest)]
    [InlineData(61, HttpStatusCode.BadRequest)]
    [InlineData(60, HttpStatusCode.Accepted)]
    [InlineData(-250, HttpStatusCode.Accepted)]
    [InlineData(-300, HttpStatusCode.Accepted)]
    public async Task A_timestamp_inside_the_window_is_accepted_and_one_outside_is_400(int offsetSeconds, HttpStatusCode expected)
    {
        await using var host = await ReceiverHost.StartAsync();
        var timestamp = (ReceiverHost.Now.ToUnixTimeSeconds() + offsetSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var response = await host.PostAsync(Body, timestamp: timestamp);   // correctly signed over this timestamp
        await AssertStatus(expected, response);
        Assert.Equal(expected == HttpStatusCode.Accepted ? 1 : 0, host.Published().Count);
    }

    [Fact]
    public async Task A_non_integer_or_missing_timestamp_or_a_missing_delivery_id_is_400()
    {
        await using var host = await ReceiverHost.StartAsync();
        await AssertStatus(HttpStatusCode.BadRequest, await host.PostAsync(Body, timestamp: "abc"));
        await AssertStatus(HttpStatusCode.BadRequest, await host.PostAsync(Body, timestamp: "1755600000.0"));
        await AssertStatus(HttpStatusCode.BadRequest, await host.PostAsync(Body, omitTimestamp: true, signature: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        await AssertStatus(HttpStatusCode.BadRequest, await host.PostAsync(Body, omitDeliveryId: true, signature: "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        Assert.Empty(host.Published());
        Assert.Contains("mlray_webhooks_total{outcome=\"bad_request\"} 4", await host.MetricsAsync());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"entity": "model_version", "action": "created"}""")]
    [InlineData("""{"entity": "model_version", "data": {"name": "fraud.staging"}}""")]
    public async Task A_malformed_body_validly_signed_is_400(string body)
    {
        await using var host = await ReceiverHost.StartAsync();
        await AssertStatus(HttpStatusCode.BadRequest, await host.PostAsync(body));
        Assert.Empty(host.Published());
    }

    [Theory]
    [InlineData("{\"major\": 3}", "an object")]
    [InlineData("true", "a boolean")]
    [InlineData("[\"3\"]", "a list")]
    [InlineData("3.5", "a fraction")]
    public async Task Data_version_of_the_wrong_type_is_400_naming_it(string version, string kind)
    {
        await using var host = await ReceiverHost.StartAsync();
        var response = await host.PostAsync(Body.Replace("\"version\": \"3\"", $"\"version\": {version}"));

        await AssertStatus(HttpStatusCode.BadRequest, response);
        var error = (await Json(response))["error"]!.GetValue<string>();
        Assert.Contains("data.version must be a string or a whole number", error);
        Assert.Contains(kind, error);
        Assert.Empty(host.Published());
    }

    [Theory]
    [InlineData("\"3\"")]
    [InlineData("3")]
    public async Task Data_version_as_string_or_number_is_queued(string version)
    {
        await using var host = await ReceiverHost.StartAsync();
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(Body.Replace("\"version\": \"3\"", $"\"version\": {version}")));
        Assert.Equal("3", Assert.Single(host.Published()).Version);
    }

    [Fact]
    public async Task Two_signature_headers_are_401_saying_the_header_is_repeated()
    {
        await using var host = await ReceiverHost.StartAsync();
        var body = Encoding.UTF8.GetBytes(Body);
        var signature = MlflowSignature.Compute(ReceiverHost.Secret, "two-sigs", host.NowSeconds, body);

        var (status, response) = await host.PostRawAsync(body, ("X-MLflow-Delivery-Id", "two-sigs"), ("X-MLflow-Timestamp", host.NowSeconds),
            ("X-MLflow-Signature", signature), ("X-MLflow-Signature", signature));

        Assert.True(status == 401, response);
        Assert.Contains("repeated X-MLflow-Signature header", response);
        Assert.Empty(host.Published());
        // The raw path itself is sound: the same request with one signature line is queued.
        var (single, _) = await host.PostRawAsync(body, ("X-MLflow-Delivery-Id", "two-sigs"), ("X-MLflow-Timestamp", host.NowSeconds),
            ("X-MLflow-Signature", signature));
        Assert.Equal(202, single);
    }

    public static TheoryData<byte[], string> UndecodableText => new()
    {
        // 0xC3 0x28: a UTF-8 lead byte followed by a byte that cannot continue it, inside data.name
        { Encoding.UTF8.GetBytes(Body.Replace("fraud.staging", "fraud\u0001.staging")).Select(b => b == 1 ? (byte)0xC3 : b).ToArray(), "body is not valid UTF-8" },
        // valid UTF-8 escaping half a surrogate pair: JSON allows it, no .NET string can hold it
        { Encoding.UTF8.GetBytes(Body.Replace("fraud.staging", "fraud\\ud800.staging")), "data.name is not valid text" },
        // ... and in a property name, which the parser's duplicate check reads
        { Encoding.UTF8.GetBytes(Body.Replace("\"data\": {", "\"data\": {\"k\\ud800\": 1, ")), "body is not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(UndecodableText))]
    public async Task A_signed_body_with_undecodable_text_is_400_naming_the_problem_without_an_error_log(byte[] body, string problem)
    {
        await using var host = await ReceiverHost.StartAsync();

        var response = await host.PostAsync(body);

        await AssertStatus(HttpStatusCode.BadRequest, response);
        Assert.Contains(problem, (await Json(response))["error"]!.GetValue<string>());
        Assert.Empty(host.Published());
        Assert.DoesNotContain("\"@l\":\"Error\"", host.Logs.ToString());
        Assert.DoesNotContain("\"@l\":\"Fatal\"", host.Logs.ToString());
    }

    [Fact]
    public async Task The_same_delivery_id_twice_the_second_is_a_duplicate_and_published_once()
    {
        await using var host = await ReceiverHost.StartAsync();
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(Body, "dup-1"));
        host.Time.Advance(TimeSpan.FromSeconds(30));   // a retry reuses the original timestamp

        var second = await host.PostAsync(Body, "dup-1", timestamp: (ReceiverHost.Now.ToUnixTimeSeconds()).ToString());

        await AssertStatus(HttpStatusCode.OK, second);
        Assert.True((await Json(second))["duplicate"]!.GetValue<bool>());
        Assert.Single(host.Published());
        var metrics = await host.MetricsAsync();
        Assert.Contains("mlray_webhooks_total{outcome=\"queued\"} 1", metrics);
        Assert.Contains("mlray_webhooks_total{outcome=\"duplicate\"} 1", metrics);
        Assert.Contains("mlray_publishes_total{outcome=\"confirmed\"} 1", metrics); // the duplicate published nothing
        Assert.Contains("mlray_webhook_duration_seconds_count 2", metrics);

        // Another delivery id with the same body is a new delivery.
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(Body, "dup-2", timestamp: host.NowSeconds));
        Assert.Equal(2, host.Published().Count);
    }

    [Theory]
    [InlineData("mlray")]
    [InlineData("prompt")]
    [InlineData("example_model")]
    [InlineData("other-suffix")]
    public async Task Ignored_events_are_200_with_the_reason_and_nothing_is_published(string kind)
    {
        await using var host = await ReceiverHost.StartAsync();
        var (body, reason) = kind switch
        {
            "mlray" => (TagSet("mlray.ray-cluster-py39.status"), "mlray.ray-cluster-py39.status"),
            "prompt" => ("""{"entity": "prompt_version", "action": "created", "timestamp": "2025-08-19T10:42:00.000001+00:00", "data": {"name": "greeting.staging", "version": "1", "template": "Hello {{name}}!", "tags": {}, "description": null}}""", "prompt"),
            "example_model" => ("""{"entity": "model_version", "action": "created", "timestamp": "2025-08-19T10:42:00.000001+00:00", "data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}}""", "example_model"),
            _ => (Body.Replace("fraud.staging", "fraud.production"), ".staging"),
        };
        var response = await host.PostAsync(body);
        await AssertStatus(HttpStatusCode.OK, response);
        Assert.Contains(reason, (await Json(response))["ignored"]!.GetValue<string>());
        Assert.Empty(host.Published());
        Assert.Contains("mlray_webhooks_total{outcome=\"ignored\"} 1", await host.MetricsAsync());
        // Counted, not logged at the default level: most are MLRay's own tag writes coming back.
        Assert.DoesNotContain("ignored", host.Logs.ToString());
        Assert.DoesNotContain("/webhooks/mlflow", host.Logs.ToString());
    }

    [Fact]
    public async Task A_ray_tag_event_is_queued()
    {
        await using var host = await ReceiverHost.StartAsync();
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(TagSet("ray.num_replicas")));
        Assert.Equal("model_version_tag.set", Assert.Single(host.Published()).Reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_body_over_one_MiB_is_413(bool chunked)
    {
        await using var host = await ReceiverHost.StartAsync();
        var body = new byte[MLflowWebhookOptions.OneMiB + 1];
        Array.Fill(body, (byte)' ');
        HttpResponseMessage response;
        try
        {
            response = await host.PostAsync(body, chunked: chunked);
        }
        catch (HttpRequestException e)
        {
            Assert.Fail($"the 413 answer was lost: {e.Message}");
            return;
        }
        await AssertStatus(HttpStatusCode.RequestEntityTooLarge, response);
        Assert.Empty(host.Published());
        Assert.Contains("mlray_webhooks_total{outcome=\"too_large\"} 1", await host.MetricsAsync());
    }

    [Fact]
    public async Task A_body_of_exactly_one_MiB_is_read()
    {
        await using var host = await ReceiverHost.StartAsync();
        var padded = Body[..^1] + new string(' ', (int)MLflowWebhookOptions.OneMiB - Body.Length) + "}";
        Assert.Equal(MLflowWebhookOptions.OneMiB, Encoding.UTF8.GetByteCount(padded));
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(Encoding.UTF8.GetBytes(padded), chunked: true));
    }

    [Theory]
    [InlineData(FlakyPublishEndpoint.Mode.Throw)]
    [InlineData(FlakyPublishEndpoint.Mode.Hang)]
    public async Task A_failing_publish_is_503_with_retry_after_and_the_retry_succeeds(FlakyPublishEndpoint.Mode mode)
    {
        var flaky = new FlakyPublishEndpoint.Switch { Current = mode };
        await using var host = await ReceiverHost.StartAsync(
            overrideServices: s => s.AddScoped<IPublishEndpoint>(sp => new FlakyPublishEndpoint(sp.GetRequiredService<IBus>(), flaky)),
            publishTimeout: TimeSpan.FromMilliseconds(300));
        var timestamp = host.NowSeconds;

        var failed = await host.PostAsync(Body, "retry-1", timestamp);

        await AssertStatus(HttpStatusCode.ServiceUnavailable, failed);
        Assert.Equal(TimeSpan.FromSeconds(5), failed.Headers.RetryAfter?.Delta);
        Assert.Equal(1, flaky.Attempts);
        Assert.Empty(host.Published());

        // The broker is back: MLflow's retry (same id, same timestamp, same signature) must not be dropped as a duplicate.
        flaky.Current = FlakyPublishEndpoint.Mode.Pass;
        host.Time.Advance(TimeSpan.FromSeconds(2));
        var retried = await host.PostAsync(Body, "retry-1", timestamp);

        await AssertStatus(HttpStatusCode.Accepted, retried);
        Assert.Equal(2, flaky.Attempts);
        Assert.Equal("retry-1", Assert.Single(host.Published()).DeliveryId);
        var metrics = await host.MetricsAsync();
        Assert.Contains("mlray_webhooks_total{outcome=\"unavailable\"} 1", metrics);
        Assert.Contains("mlray_webhooks_total{outcome=\"queued\"} 1", metrics);
    }

    [Fact]
    public async Task With_allow_unsigned_unsigned_deliveries_are_accepted_but_the_timestamp_still_counts()
    {
        await using var host = await ReceiverHost.StartAsync(secret: null);
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(Body, signWith: null));
        await AssertStatus(HttpStatusCode.BadRequest, await host.PostAsync(Body, signWith: null, timestamp: "abc"));
        Assert.Single(host.Published());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Readyz_and_the_start_up_log_say_which_signature_mode_runs(bool signed)
    {
        await using var host = await ReceiverHost.StartAsync(secret: signed ? ReceiverHost.Secret : null);

        var readyz = await host.Http.GetAsync("/readyz");

        await AssertStatus(HttpStatusCode.OK, readyz);
        var body = await Json(readyz);
        Assert.Equal("Healthy", body["status"]!.GetValue<string>());
        var mode = body["webhook_signatures"]!.GetValue<string>();
        Assert.Equal(signed ? "required" : "not checked (receiver.allow_unsigned: true)", mode);
        var started = host.Logs.ToString().Split('\n').Single(l => l.Contains("Receiver listening", StringComparison.Ordinal));
        Assert.Contains($"\"SignatureMode\":\"{mode}\"", started);
        Assert.Equal(!signed, host.Logs.ToString().Contains("Webhook signatures are not checked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Healthz_is_200_readyz_follows_the_bus_and_metrics_are_exported()
    {
        await using var host = await ReceiverHost.StartAsync();
        var healthz = await host.Http.GetAsync("/healthz");
        await AssertStatus(HttpStatusCode.OK, healthz);

        var readyz = await host.Http.GetAsync("/readyz");
        await AssertStatus(HttpStatusCode.OK, readyz);

        var metrics = await host.MetricsAsync();
        Assert.Contains("# TYPE mlray_webhooks_total counter", metrics);
        Assert.Contains("mlray_webhooks_total{outcome=\"queued\"} 0", metrics);
    }

    [Fact]
    public async Task Readyz_is_503_when_a_ready_check_fails_while_healthz_stays_200()
    {
        await using var host = await ReceiverHost.StartAsync(overrideServices: s => s.AddHealthChecks()
            .AddCheck("bus-down", () => HealthCheckResult.Unhealthy("simulated"), tags: ["ready"]));
        await AssertStatus(HttpStatusCode.ServiceUnavailable, await host.Http.GetAsync("/readyz"));
        await AssertStatus(HttpStatusCode.OK, await host.Http.GetAsync("/healthz"));
    }

    [Fact]
    public async Task Logs_are_compact_json_carry_the_delivery_id_and_never_the_secret_signature_or_body()
    {
        await using var host = await ReceiverHost.StartAsync();
        var deliveryId = "log-" + Guid.NewGuid().ToString("N");
        var signature = MlflowSignature.Compute(ReceiverHost.Secret, deliveryId, host.NowSeconds, Encoding.UTF8.GetBytes(Body));
        await AssertStatus(HttpStatusCode.Accepted, await host.PostAsync(Body, deliveryId, signature: signature));
        await AssertStatus(HttpStatusCode.Unauthorized, await host.PostAsync(Body, "log-bad", signWith: "other"));

        var logs = host.Logs.ToString();
        var lines = logs.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        foreach (var line in lines) Assert.NotNull(JsonNode.Parse(line)!["@t"]);   // CLEF
        Assert.Contains(lines, l => l.Contains("queued", StringComparison.Ordinal) && JsonNode.Parse(l)!["DeliveryId"]?.GetValue<string>() == deliveryId);
        Assert.DoesNotContain(ReceiverHost.Secret, logs);
        Assert.DoesNotContain(signature[3..], logs);
        Assert.Contains(lines, l => l.Contains("Receiver listening", StringComparison.Ordinal) && l.Contains("amqp://mlray:***@127.0.0.1", StringComparison.Ordinal));
        Assert.DoesNotContain("rabbit-password", logs);
        Assert.DoesNotContain("deploy.target", logs);          // only in the body
        Assert.DoesNotContain("models:/m-0123", logs);
    }

    [Fact]
    public async Task Nothing_redirects_and_other_methods_are_not_accepted()
    {
        await using var host = await ReceiverHost.StartAsync();
        var get = await host.Http.GetAsync("/webhooks/mlflow");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        var trailing = await host.Http.PostAsync("/webhooks/mlflow/", new StringContent(Body));
        Assert.True((int)trailing.StatusCode is < 300 or >= 400, $"redirected: {(int)trailing.StatusCode}");
    }
}
