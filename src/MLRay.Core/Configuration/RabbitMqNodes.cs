using System.Text.RegularExpressions;

namespace MLRay.Configuration;

/// <summary>
/// The broker's node list as config gives it: <c>rabbitmq.uris</c> (a YAML list), or <c>rabbitmq.uri</c> / <c>RABBITMQ_URI</c>
/// holding one URI or several separated by commas (<c>amqp://u:p@n1:5672/v,amqp://u:p@n2:5672/v</c>: the form RabbitMQ's
/// client libraries that take a node list in one string use, e.g. amqplib's and RabbitMQ.Client's <c>AmqpTcpEndpoint.ParseMultiple</c>
/// for <c>host:port</c>). Every node is one member of one cluster, so all share scheme, vhost, user and password; clients try
/// them in the order given.
/// </summary>
public static partial class RabbitMqNodes
{
    public const string NotAnAmqpUri = "not an amqp:// or amqps:// URI";
    private const string SameEverywhere = "every node of one cluster is reached with the same scheme, vhost, user and password";

    /// <summary>The most replicas a quorum queue is given when several nodes are configured (RabbitMQ's recommended group size).</summary>
    public const int MaxQuorumGroupSize = 3;

    /// <summary>
    /// The comma form split into its URIs. A comma splits only where the next URI begins (<c>amqp://</c> or <c>amqps://</c>),
    /// so a comma inside a password does not.
    /// </summary>
    public static IReadOnlyList<string> Split(string text) =>
        [.. NextUri().Split(text.Trim()).Select(t => t.Trim())];

    /// <summary>
    /// The nodes, each given as (the key it came from, its text), parsed and checked: each an amqp(s) URI, all with the first
    /// one's scheme, vhost, user and password. A <see cref="ConfigException"/> names the key and never shows a password.
    /// </summary>
    public static IReadOnlyList<Uri> Parse(IReadOnlyList<(string Key, string Text)> nodes, string listKey)
    {
        if (nodes.Count == 0) throw new ConfigException(listKey, "lists no broker node: give at least one amqp:// URI");
        var uris = new List<Uri>();
        foreach (var (key, text) in nodes)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps") || uri.Host.Length == 0)
                throw new ConfigException(key, NotAnAmqpUri);
            if (uris.Count > 0 && Difference(uris[0], uri) is { } difference)
                throw new ConfigException(key, $"{Redacted(uri)} has {difference} than the first node {Redacted(uris[0])}: {SameEverywhere}");
            uris.Add(uri);
        }
        return uris;
    }

    /// <summary>What differs between two nodes' connection settings (never their values when secret), or null.</summary>
    private static string? Difference(Uri first, Uri other)
    {
        if (first.Scheme != other.Scheme) return $"another scheme ({other.Scheme}://)";
        if (VirtualHost(first) != VirtualHost(other)) return $"another vhost ('{VirtualHost(other)}')";
        return first.UserInfo != other.UserInfo ? "another user or password" : null;
    }

    private static string VirtualHost(Uri uri) =>
        uri.AbsolutePath.TrimStart('/') is { Length: > 0 } path ? Uri.UnescapeDataString(path) : "/";

    /// <summary>The URI without its password, for logs and messages.</summary>
    public static string Redacted(Uri uri) => new UriBuilder(uri) { Password = uri.UserInfo.Contains(':') ? "***" : "" }.Uri.ToString();

    /// <summary>How many different nodes (host and port) the list names.</summary>
    public static int Distinct(IEnumerable<Uri> uris) =>
        uris.Select(u => (u.Host.ToLowerInvariant(), u.Port)).Distinct().Count();

    /// <summary>
    /// The <c>x-quorum-initial-group-size</c> MLRay declares its quorum queues with: one replica per configured node, at
    /// most <see cref="MaxQuorumGroupSize"/>; null (left to the broker) when one URI is configured, since it may be a load
    /// balancer in front of a cluster of any size (RabbitMQ 3.10 then places a replica on every cluster node).
    /// </summary>
    public static int? QuorumGroupSize(IReadOnlyList<Uri> uris) =>
        Distinct(uris) is var nodes && nodes <= 1 ? null : Math.Min(MaxQuorumGroupSize, nodes);

    [GeneratedRegex(@"\s*,\s*(?=amqps?://)", RegexOptions.IgnoreCase)]
    private static partial Regex NextUri();
}
