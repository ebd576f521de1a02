using RabbitMQ.Client;

namespace MLRay.Pipeline.Topology;

/// <summary>An <c>amqp://user:pass@host:port/vhost</c> URI split the way MassTransit and RabbitMQ.Client want it.</summary>
public sealed record RabbitMqEndpoint(string Host, int Port, string VirtualHost, string Username, string Password, bool Tls)
{
    public static RabbitMqEndpoint Parse(Uri uri)
    {
        var user = Uri.UnescapeDataString(uri.UserInfo.Split(':')[0]);
        var password = uri.UserInfo.Contains(':') ? Uri.UnescapeDataString(uri.UserInfo[(uri.UserInfo.IndexOf(':') + 1)..]) : "";
        var path = uri.AbsolutePath.TrimStart('/');
        var vhost = path.Length == 0 ? "/" : Uri.UnescapeDataString(path);
        var tls = uri.Scheme == "amqps";
        return new RabbitMqEndpoint(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? (tls ? 5671 : 5672) : uri.Port, vhost,
            user.Length == 0 ? "guest" : user, user.Length == 0 ? "guest" : password, tls);
    }

    /// <summary>A RabbitMQ.Client factory for this broker (the topology declarer's and the dead-letter store's connections).</summary>
    public ConnectionFactory ConnectionFactory()
    {
        var factory = new ConnectionFactory
        {
            HostName = Host, Port = Port, VirtualHost = VirtualHost, UserName = Username, Password = Password,
        };
        if (Tls) factory.Ssl = new SslOption { Enabled = true, ServerName = Host };
        return factory;
    }

    /// <summary>Channel options for publishes awaited until the broker confirms each (what <c>MassTransitEnvelope.PublishAsync</c> needs).</summary>
    public static readonly CreateChannelOptions ConfirmedPublishes = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    /// <summary>
    /// A connection named <paramref name="clientName"/> (as the management UI shows it), without automatic recovery: its
    /// owner either uses it for one short operation or re-opens it itself when it is lost.
    /// </summary>
    public Task<IConnection> ConnectAsync(string clientName, TimeSpan timeout, CancellationToken ct)
    {
        var factory = ConnectionFactory();
        factory.RequestedConnectionTimeout = timeout;
        factory.AutomaticRecoveryEnabled = false;
        return factory.CreateConnectionAsync(clientName, ct);
    }

    public override string ToString() => $"{(Tls ? "amqps" : "amqp")}://{Username}@{Host}:{Port}/{Uri.EscapeDataString(VirtualHost)}";
}
