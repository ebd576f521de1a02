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

    public override string ToString() => $"{(Tls ? "amqps" : "amqp")}://{Username}@{Host}:{Port}/{Uri.EscapeDataString(VirtualHost)}";
}
