using RabbitMQ.Client;

namespace MLRay.Pipeline.Topology;

/// <summary>One node of the broker: where a connection to it goes.</summary>
public sealed record RabbitMqNode(string Host, int Port)
{
    public override string ToString() => $"{Host}:{Port}";
}

/// <summary>
/// The broker as config names it (<see cref="PipelineSettings.RabbitMqUris"/>: one node, or the nodes of a cluster), split the
/// way MassTransit and RabbitMQ.Client want it: every node's host and port, and the vhost, credentials and TLS they share.
/// <see cref="Host"/> and <see cref="Port"/> are the first node's.
/// </summary>
public sealed record RabbitMqEndpoint(string Host, int Port, string VirtualHost, string Username, string Password, bool Tls)
{
    /// <summary>Every node, in the order connections try them; the first is <see cref="Host"/>:<see cref="Port"/>.</summary>
    public IReadOnlyList<RabbitMqNode> Nodes { get; init; } = [new(Host, Port)];

    /// <summary>
    /// The <c>x-quorum-initial-group-size</c> of MLRay's quorum queues (<see cref="RabbitMqNodes.QuorumGroupSize"/>): one replica
    /// per configured node, at most three; null with one node (the broker decides).
    /// </summary>
    public int? QuorumGroupSize { get; init; }

    /// <summary>The broker <paramref name="settings"/> configure: the one place a process turns its config into connections.</summary>
    public static RabbitMqEndpoint For(PipelineSettings settings) => Parse(settings.RabbitMqUris);

    public static RabbitMqEndpoint Parse(Uri uri) => Parse([uri]);

    /// <summary>
    /// The nodes of one broker. Vhost, credentials and TLS are the first URI's: config refuses a list whose nodes differ in
    /// them (<see cref="RabbitMqNodes.Parse"/>).
    /// </summary>
    public static RabbitMqEndpoint Parse(IReadOnlyList<Uri> uris)
    {
        var first = uris[0];
        var user = Uri.UnescapeDataString(first.UserInfo.Split(':')[0]);
        var password = first.UserInfo.Contains(':') ? Uri.UnescapeDataString(first.UserInfo[(first.UserInfo.IndexOf(':') + 1)..]) : "";
        var path = first.AbsolutePath.TrimStart('/');
        var vhost = path.Length == 0 ? "/" : Uri.UnescapeDataString(path);
        var tls = first.Scheme == "amqps";
        var nodes = uris.Select(u => new RabbitMqNode(u.Host, u.IsDefaultPort || u.Port < 0 ? (tls ? 5671 : 5672) : u.Port)).ToList();
        return new RabbitMqEndpoint(nodes[0].Host, nodes[0].Port, vhost, user.Length == 0 ? "guest" : user, user.Length == 0 ? "guest" : password, tls)
        {
            Nodes = nodes,
            QuorumGroupSize = RabbitMqNodes.QuorumGroupSize(uris),
        };
    }

    /// <summary>A RabbitMQ.Client factory for the first node (<see cref="ConnectAsync"/> tries every node).</summary>
    public ConnectionFactory ConnectionFactory()
    {
        var factory = new ConnectionFactory
        {
            HostName = Host, Port = Port, VirtualHost = VirtualHost, UserName = Username, Password = Password,
        };
        if (Tls) factory.Ssl = Ssl(Host);
        return factory;
    }

    /// <summary>Channel options for publishes awaited until the broker confirms each (what <c>MassTransitEnvelope.PublishAsync</c> needs).</summary>
    public static readonly CreateChannelOptions ConfirmedPublishes = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    /// <summary>
    /// A connection named <paramref name="clientName"/> (as the management UI shows it) to the first node that accepts one,
    /// in the configured order (RabbitMQ.Client's default would shuffle them), each given <paramref name="timeout"/>; without
    /// automatic recovery: its owner either uses it for one short operation or re-opens it itself when it is lost — and so
    /// reaches another node when its node is gone.
    /// </summary>
    public Task<IConnection> ConnectAsync(string clientName, TimeSpan timeout, CancellationToken ct)
    {
        var factory = ConnectionFactory();
        factory.RequestedConnectionTimeout = timeout;
        factory.AutomaticRecoveryEnabled = false;
        return factory.CreateConnectionAsync(new InOrder(Endpoints()), clientName, ct);
    }

    /// <summary>Every node as RabbitMQ.Client's endpoint, in order.</summary>
    public IReadOnlyList<AmqpTcpEndpoint> Endpoints() =>
        [.. Nodes.Select(n => Tls ? new AmqpTcpEndpoint(n.Host, n.Port, Ssl(n.Host)) : new AmqpTcpEndpoint(n.Host, n.Port))];

    private static SslOption Ssl(string host) => new() { Enabled = true, ServerName = host };

    private sealed class InOrder(IReadOnlyList<AmqpTcpEndpoint> endpoints) : IEndpointResolver
    {
        public IEnumerable<AmqpTcpEndpoint> All() => endpoints;
    }

    /// <summary>The broker for logs and messages, never with its password: <c>amqp://user@n1:5672,n2:5672/vhost</c>.</summary>
    public override string ToString() =>
        $"{(Tls ? "amqps" : "amqp")}://{Username}@{string.Join(",", Nodes)}/{Uri.EscapeDataString(VirtualHost)}";
}
