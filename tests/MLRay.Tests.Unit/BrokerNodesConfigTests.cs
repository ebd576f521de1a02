using MLRay.Pipeline.Topology;

namespace MLRay.Tests.Unit;

/// <summary>
/// A broker that is a cluster: <c>rabbitmq.uris</c>, the comma form in <c>rabbitmq.uri</c> and <c>RABBITMQ_URI</c>, one vhost
/// and one set of credentials for every node, the node list every connection tries, and the quorum group size it implies.
/// </summary>
public class BrokerNodesConfigTests
{
    private const string Rest = "mlflow: {tracking_uri: 'http://m:1'}\nray_clusters: [{name: c, python_version: '3.9', dashboard_address: 'http://r:8265'}]\n";
    private const string N1 = "amqp://mlray:pw-n1@10.0.0.1:5672/prod";
    private const string N2 = "amqp://mlray:pw-n1@10.0.0.2:5673/prod";
    private const string N3 = "amqp://mlray:pw-n1@10.0.0.3/prod";

    private static MLRayConfig Load(string rabbit, string? variable = null) =>
        ConfigLoader.Load(rabbit + Rest, new DictionaryEnvironment(variable is null
            ? new Dictionary<string, string>()
            : new Dictionary<string, string> { [PipelineSettings.RabbitMqUriVariable] = variable }));

    public static TheoryData<string, string, string?, string[], string, int?> Loaded => new()
    {
        // what, rabbitmq section, RABBITMQ_URI, the nodes (host:port), the key messages name, the quorum group size
        { "nothing: the local default", "", null, ["127.0.0.1:5672"], "default rabbitmq.uri", null },
        { "one URI", $"rabbitmq: {{uri: '{N1}'}}\n", null, ["10.0.0.1:5672"], "rabbitmq.uri", null },
        { "a list of three", $"rabbitmq:\n  uris:\n  - {N1}\n  - {N2}\n  - {N3}\n", null, ["10.0.0.1:5672", "10.0.0.2:5673", "10.0.0.3:5672"], "rabbitmq.uris", 3 },
        { "a list of one", $"rabbitmq: {{uris: ['{N1}']}}\n", null, ["10.0.0.1:5672"], "rabbitmq.uris", null },
        { "the comma form", $"rabbitmq: {{uri: '{N1},{N2}'}}\n", null, ["10.0.0.1:5672", "10.0.0.2:5673"], "rabbitmq.uri", 2 },
        { "the comma form with spaces", $"rabbitmq: {{uri: '{N1} , {N2}, {N3}'}}\n", null, ["10.0.0.1:5672", "10.0.0.2:5673", "10.0.0.3:5672"], "rabbitmq.uri", 3 },
        { "RABBITMQ_URI, one", "", N2, ["10.0.0.2:5673"], "RABBITMQ_URI", null },
        { "RABBITMQ_URI, the comma form", "", $"{N1},{N2},{N3}", ["10.0.0.1:5672", "10.0.0.2:5673", "10.0.0.3:5672"], "RABBITMQ_URI", 3 },
        { "rabbitmq.uris wins over RABBITMQ_URI", $"rabbitmq: {{uris: ['{N3}', '{N1}']}}\n", N2, ["10.0.0.3:5672", "10.0.0.1:5672"], "rabbitmq.uris", 2 },
        { "a comma inside a password does not split", "rabbitmq: {uri: 'amqp://u:a,b@h1:5672/v,amqp://u:a,b@h2:5672/v'}\n", null, ["h1:5672", "h2:5672"], "rabbitmq.uri", 2 },
        { "one node twice counts once", $"rabbitmq: {{uris: ['{N1}', '{N1}']}}\n", null, ["10.0.0.1:5672", "10.0.0.1:5672"], "rabbitmq.uris", null },
        { "five nodes: three replicas", "rabbitmq: {uris: ['amqp://h1', 'amqp://h2', 'amqp://h3', 'amqp://h4', 'amqp://h5']}\n", null, ["h1:5672", "h2:5672", "h3:5672", "h4:5672", "h5:5672"], "rabbitmq.uris", 3 },
    };

    [Theory]
    [MemberData(nameof(Loaded))]
    public void The_node_list_is_read_from_each_form(string what, string rabbit, string? variable, string[] nodes, string key, int? groupSize)
    {
        var pipeline = Load(rabbit, variable).Pipeline;
        var broker = RabbitMqEndpoint.For(pipeline);
        Assert.True(nodes.SequenceEqual(broker.Nodes.Select(n => n.ToString())), $"{what}: nodes {string.Join(", ", broker.Nodes)}");
        Assert.Equal(pipeline.RabbitMqUris[0], pipeline.RabbitMqUri);   // the first node, for callers that take one URI
        Assert.Equal((broker.Nodes[0].Host, broker.Nodes[0].Port), (broker.Host, broker.Port));
        Assert.Equal(key, pipeline.RabbitMqUriKey);
        Assert.Equal(groupSize, broker.QuorumGroupSize);
        Assert.DoesNotContain("pw-n1", pipeline.ToString());
        Assert.DoesNotContain("pw-n1", pipeline.RedactedRabbitMqUris);
        Assert.DoesNotContain("pw-n1", broker.ToString());
    }

    public static TheoryData<string, string, string?, string> Refused => new()
    {
        // what, rabbitmq section, RABBITMQ_URI, the one config error line
        { "another vhost in the list", $"rabbitmq: {{uris: ['{N1}', 'amqp://mlray:pw-n1@10.0.0.2:5672/test']}}\n", null,
            "config error: config.yml:1:60: rabbitmq.uris[1]: amqp://mlray:***@10.0.0.2:5672/test has another vhost ('test') than the first node amqp://mlray:***@10.0.0.1:5672/prod: every node of one cluster is reached with the same scheme, vhost, user and password" },
        { "another password, never shown", $"rabbitmq: {{uris: ['{N1}', 'amqp://mlray:pw-n2@10.0.0.2/prod']}}\n", null,
            "config error: config.yml:1:60: rabbitmq.uris[1]: amqp://mlray:***@10.0.0.2/prod has another user or password than the first node amqp://mlray:***@10.0.0.1:5672/prod: every node of one cluster is reached with the same scheme, vhost, user and password" },
        { "another user in the comma form", $"rabbitmq: {{uri: '{N1},amqp://ops:pw-n1@10.0.0.2/prod'}}\n", null,
            "config error: config.yml:1:12: rabbitmq.uri: amqp://ops:***@10.0.0.2/prod has another user or password than the first node amqp://mlray:***@10.0.0.1:5672/prod: every node of one cluster is reached with the same scheme, vhost, user and password" },
        { "TLS on one node only", $"rabbitmq: {{uri: '{N1},amqps://mlray:pw-n1@10.0.0.2/prod'}}\n", null,
            "config error: config.yml:1:12: rabbitmq.uri: amqps://mlray:***@10.0.0.2/prod has another scheme (amqps://) than the first node amqp://mlray:***@10.0.0.1:5672/prod: every node of one cluster is reached with the same scheme, vhost, user and password" },
        { "another vhost in RABBITMQ_URI", "", $"{N1},amqp://mlray:pw-n1@10.0.0.2/",
            "config error: config.yml: RABBITMQ_URI: amqp://mlray:***@10.0.0.2/ has another vhost ('/') than the first node amqp://mlray:***@10.0.0.1:5672/prod: every node of one cluster is reached with the same scheme, vhost, user and password" },
        { "a node that is not an amqp URI", $"rabbitmq: {{uris: ['{N1}', 'http://10.0.0.2']}}\n", null,
            "config error: config.yml:1:60: rabbitmq.uris[1]: not an amqp:// or amqps:// URI" },
        { "an empty list", "rabbitmq: {uris: []}\n", null, "config error: config.yml:1:12: rabbitmq.uris: lists no broker node: give at least one amqp:// URI" },
        { "both keys", $"rabbitmq: {{uri: '{N1}', uris: ['{N2}']}}\n", null,
            "config error: config.yml:1:58: rabbitmq.uris: give either rabbitmq.uri or rabbitmq.uris, not both" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Nodes_that_are_not_one_cluster_are_refused_naming_the_key_without_a_password(string what, string rabbit, string? variable, string expected)
    {
        var lines = Assert.Throws<ConfigException>(() => Load(rabbit, variable)).Lines().ToList();
        Assert.True(lines.Count == 1 && lines[0] == expected, $"{what}:\n  expected: {expected}\n  got:      {string.Join("\n            ", lines)}");
        Assert.DoesNotContain("pw-n", lines[0]);
    }

    [Fact]
    public void Split_cuts_only_where_the_next_uri_begins()
    {
        Assert.Equal(["amqp://a:1", "amqps://b:2/v"], RabbitMqNodes.Split(" amqp://a:1, amqps://b:2/v "));
        Assert.Equal(["amqp://u:x,y@h/v"], RabbitMqNodes.Split("amqp://u:x,y@h/v"));
        Assert.Equal(["amqp://h1", "AMQP://h2"], RabbitMqNodes.Split("amqp://h1,AMQP://h2"));
    }

    [Fact]
    public void Quorum_arguments_carry_the_group_size_only_when_there_is_one()
    {
        Assert.Equal(new Dictionary<string, object?> { ["x-queue-type"] = "quorum", ["x-quorum-initial-group-size"] = 3 },
            QueueReplication.QuorumArguments(3, singleActiveConsumer: false));
        Assert.Equal(new Dictionary<string, object?> { ["x-queue-type"] = "quorum", ["x-single-active-consumer"] = true },
            QueueReplication.QuorumArguments(null, singleActiveConsumer: true));
        var replication = new QueueReplication(3);
        Assert.Equal(3, replication.For("q"));
        replication.Adopt("q", null);   // declared by an older MLRay: kept without the argument
        Assert.Null(replication.For("q"));
        Assert.Equal(3, replication.For("other"));
        Assert.DoesNotContain(null, replication.Alternatives("q"));
        Assert.Contains(3, replication.Alternatives("q"));
    }
}
