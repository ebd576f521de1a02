using System.Text;
using MLRay.Pipeline.Messages;
using MLRay.Receiver.Webhooks;

namespace MLRay.Tests.Receiver;

public sealed class WebhookEventMapperTests
{
    private const string Id = "d-1";
    private const string Suffix = ".staging";

    private static string Envelope(string entity, string action, string data) =>
        $$$"""{"entity": "{{{entity}}}", "action": "{{{action}}}", "timestamp": "2025-08-19T10:40:00.123456+00:00", "data": {{{data}}}}""";

    private static WebhookDecision Map(string body, string suffix = Suffix) =>
        WebhookEventMapper.Map(Encoding.UTF8.GetBytes(body), Id, suffix);

    /// <summary>Bodies that must become exactly this RegistryChanged (model, version, alias, reason).</summary>
    public static TheoryData<string, string, string?, string?, string> Published => new()
    {
        // contracts/mlflow.md §1.2, first example (run_id: null, description: null)
        { MlflowTestVector.VectorBody, "fraud.staging", "3", null, "model_version.created" },
        // §1.2, second example
        { Envelope("model_version_alias", "created", """{"name": "fraud.staging", "alias": "champion", "version": "3"}"""),
            "fraud.staging", "3", "champion", "model_version_alias.created" },
        { Envelope("model_version_alias", "deleted", """{"name": "fraud.staging", "alias": "champion"}"""),
            "fraud.staging", null, "champion", "model_version_alias.deleted" },
        { Envelope("model_version_tag", "set", """{"name": "fraud.staging", "version": "3", "key": "ray.num_replicas", "value": "2"}"""),
            "fraud.staging", "3", null, "model_version_tag.set" },
        { Envelope("model_version_tag", "deleted", """{"name": "fraud.staging", "version": "3", "key": "ray.enabled"}"""),
            "fraud.staging", "3", null, "model_version_tag.deleted" },
        // a tag that merely contains "mlray" is not MLRay's own
        { Envelope("model_version_tag", "set", """{"name": "fraud.staging", "version": "3", "key": "team.mlray.owner", "value": "x"}"""),
            "fraud.staging", "3", null, "model_version_tag.set" },
        { Envelope("registered_model", "created", """{"name": "fraud.staging", "tags": {}, "description": ""}"""),
            "fraud.staging", null, null, "registered_model.created" },
        { Envelope("registered_model", "created", """{"name": "fraud.staging", "tags": {"mlflow.prompt.is_prompt": "false"}, "description": null}"""),
            "fraud.staging", null, null, "registered_model.created" },
        // non-ASCII sent as \u escapes (Python json.dumps), run_id null, a real run id elsewhere
        { Envelope("model_version", "created", """{"name": "caf\u00e9.staging", "version": "12", "source": "runs:/abc/model", "run_id": null, "tags": {}, "description": "r\u00e9sum\u00e9 \ud83d\ude80"}"""),
            "café.staging", "12", null, "model_version.created" },
        // raw UTF-8 is fine too
        { Envelope("model_version", "created", """{"name": "naïve.staging", "version": "1", "source": "s3://b/k", "run_id": "4b7e1f0a2c3d4e5f8a9b0c1d2e3f4a5b", "tags": {"k": "v"}, "description": "é"}"""),
            "naïve.staging", "1", null, "model_version.created" },
        // version as a JSON number is tolerated; unknown extra keys (3.10+ workspace) are ignored
        { """{"entity": "model_version", "action": "created", "timestamp": "t", "data": {"name": "m.staging", "version": 7}, "workspace": "default"}""",
            "m.staging", "7", null, "model_version.created" },
        // upper-case names are normalised into the reason
        { """{"entity": "MODEL_VERSION", "action": "CREATED", "timestamp": "t", "data": {"name": "m.staging", "version": "1"}}""",
            "m.staging", "1", null, "model_version.created" },
    };

    [Theory]
    [MemberData(nameof(Published))]
    public void Model_events_become_one_registry_changed(string body, string model, string? version, string? alias, string reason)
    {
        var publish = Assert.IsType<WebhookDecision.Publish>(Map(body));
        Assert.Equal(new RegistryChanged { RegisteredModel = model, Version = version, Alias = alias, Reason = reason, DeliveryId = Id }, publish.Message);
    }

    /// <summary>Well-formed events MLRay does not act on: the reason must mention the given text.</summary>
    public static TheoryData<string, string> Ignored => new()
    {
        // MLRay's own status tags (invariant 7: no feedback loop)
        { Envelope("model_version_tag", "set", """{"name": "fraud.staging", "version": "3", "key": "mlray.ray-cluster-py39.status", "value": "RUNNING"}"""), "mlray.ray-cluster-py39.status" },
        { Envelope("model_version_tag", "deleted", """{"name": "fraud.staging", "version": "3", "key": "mlray.ray-cluster-py39.message"}"""), "written by MLRay" },
        // prompt registry and other entities
        { Envelope("prompt", "created", """{"name": "p.staging", "tags": {}, "description": null}"""), "prompt" },
        { Envelope("prompt_version", "created", """{"name": "p.staging", "version": "1", "template": "Hello {{name}}!", "tags": {}, "description": null}"""), "prompt" },
        { Envelope("prompt_alias", "deleted", """{"name": "p.staging", "alias": "a"}"""), "prompt" },
        { Envelope("budget_policy", "exceeded", """{"name": "x"}"""), "not a model registry event" },
        { Envelope("model_version", "deleted", """{"name": "fraud.staging", "version": "3"}"""), "not a model registry event" },
        { Envelope("registered_model", "updated", """{"name": "fraud.staging"}"""), "not a model registry event" },
        // a prompt sent as a registered model by an older server
        { Envelope("registered_model", "created", """{"name": "p.staging", "tags": {"mlflow.prompt.is_prompt": "true"}, "description": null}"""), "prompt" },
        // selection by suffix, including MLflow's /test payloads (§1.10)
        { Envelope("model_version", "created", """{"name": "fraud.prod", "version": "3", "source": "s", "run_id": null, "tags": {}, "description": null}"""), "'fraud.prod' does not end with '.staging'" },
        { Envelope("model_version", "created", """{"name": "fraud.STAGING", "version": "3"}"""), "does not end with" },
        { Envelope("registered_model", "created", """{"name":"example_model","tags":{"example_key":"example_value"},"description":"An example registered model"}"""), "example_model" },
        { Envelope("model_version", "created", """{"name":"example_model","version":"1","source":"models:/123","run_id":"abcd1234abcd5678","tags":{"example_key":"example_value"},"description":"An example model version"}"""), "example_model" },
        { Envelope("model_version_tag", "set", """{"name":"example_model","version":"1","key":"example_key","value":"example_value"}"""), "example_model" },
        { Envelope("model_version_alias", "created", """{"name":"example_model","alias":"example_alias","version":"1"}"""), "example_model" },
    };

    [Theory]
    [MemberData(nameof(Ignored))]
    public void Other_events_are_ignored_with_a_reason(string body, string reasonContains)
    {
        var ignore = Assert.IsType<WebhookDecision.Ignore>(Map(body));
        Assert.Contains(reasonContains, ignore.Reason);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{\"entity\": \"model_version\", \"action\": \"created\", \"data\": {\"name\": \"m.staging\"}")]   // truncated
    [InlineData("[]")]
    [InlineData("\"model_version.created\"")]
    [InlineData("""{"action": "created", "data": {"name": "m.staging"}}""")]
    [InlineData("""{"entity": "model_version", "data": {"name": "m.staging"}}""")]
    [InlineData("""{"entity": "model_version", "action": "created"}""")]
    [InlineData("""{"entity": "model_version", "action": "created", "data": null}""")]
    [InlineData("""{"entity": "model_version", "action": "created", "data": "x"}""")]
    [InlineData("""{"entity": 1, "action": "created", "data": {}}""")]
    [InlineData("""{"entity": "model_version", "action": "created", "data": {}}""")]                        // no name
    [InlineData("""{"entity": "model_version", "action": "created", "data": {"name": 5}}""")]
    [InlineData("""{"entity": "model_version_tag", "action": "set", "data": {"name": "m.staging", "version": "1"}}""")]   // no key
    [InlineData("""{"entity": "model_version_alias", "action": "created", "data": {"name": "m.staging", "version": "1"}}""")] // no alias
    public void Malformed_envelopes_are_invalid(string body)
    {
        Assert.IsType<WebhookDecision.Invalid>(Map(body));
    }

    [Fact]
    public void The_suffix_is_configurable()
    {
        var body = Envelope("model_version", "created", """{"name": "fraud.prod", "version": "3"}""");
        Assert.IsType<WebhookDecision.Publish>(Map(body, ".prod"));
        Assert.IsType<WebhookDecision.Ignore>(Map(body, ".staging"));
    }
}
