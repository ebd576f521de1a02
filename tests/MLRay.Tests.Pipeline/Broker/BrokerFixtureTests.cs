using System.Text;
using RabbitMQ.Client;

namespace MLRay.Tests.Broker;

[Collection("broker")]
public class BrokerFixtureTests(RabbitMqBroker broker)
{
    [Fact]
    public async Task A_fresh_vhost_shows_a_published_message_through_the_management_helpers()
    {
        var vhost = await broker.CreateVhostAsync();
        Assert.NotEqual("/", RabbitMqBroker.VhostOf(vhost.ToString()));
        Assert.Equal(-1, await broker.QueueMessageCountAsync(vhost.ToString(), "fixture-test"));

        var factory = new ConnectionFactory { Uri = vhost };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync("fixture-test", durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        var properties = new BasicProperties
        {
            ContentType = "application/json",
            Headers = new Dictionary<string, object?> { ["mlray-reason"] = Encoding.UTF8.GetBytes("just testing"), ["attempt"] = 2 },
        };
        await channel.BasicPublishAsync("", "fixture-test", mandatory: true, properties, Encoding.UTF8.GetBytes("""{"model":"iris.staging","version":"1"}"""));

        // The management API's counts lag the broker: poll.
        var count = -1;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline; await Task.Delay(250))
            if ((count = await broker.QueueMessageCountAsync(vhost.ToString(), "fixture-test")) == 1) break;
        Assert.Equal(1, count);

        var peeked = await broker.PeekMessagesAsync(vhost.ToString(), "fixture-test", 10);
        var message = Assert.Single(peeked);
        Assert.Equal("""{"model":"iris.staging","version":"1"}""", message.Body);
        Assert.Equal("just testing", message.Headers["mlray-reason"]);
        Assert.Equal("2", message.Headers["attempt"]);

        // Peeking requeues: the message is still there for a consumer.
        var got = await channel.BasicGetAsync("fixture-test", autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("""{"model":"iris.staging","version":"1"}""", Encoding.UTF8.GetString(got.Body.Span));
    }

    [Fact]
    public async Task Vhosts_are_isolated_and_a_missing_queue_peeks_empty()
    {
        var a = await broker.CreateVhostAsync();
        var b = await broker.CreateVhostAsync();
        Assert.NotEqual(a, b);
        await using (var connection = await new ConnectionFactory { Uri = a }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.QueueDeclareAsync("only-in-a", durable: true, exclusive: false, autoDelete: false);

        Assert.Equal(-1, await broker.QueueMessageCountAsync(b.ToString(), "only-in-a"));
        Assert.Empty(await broker.PeekMessagesAsync(b.ToString(), "only-in-a", 5));
        Assert.Empty(await broker.PeekMessagesAsync(a.ToString(), "only-in-a", 5));
    }

    [Fact]
    public async Task Stop_app_refuses_connections_until_start_app_and_messages_survive()
    {
        var vhost = await broker.CreateVhostAsync();
        await using (var connection = await new ConnectionFactory { Uri = vhost }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("outage", durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
            await channel.BasicPublishAsync("", "outage", Encoding.UTF8.GetBytes("before the outage"));
        }

        await broker.StopAppAsync();
        try
        {
            await Assert.ThrowsAnyAsync<Exception>(() => new ConnectionFactory { Uri = vhost, RequestedConnectionTimeout = TimeSpan.FromSeconds(3) }.CreateConnectionAsync());
        }
        finally
        {
            await broker.StartAppAsync();
        }

        await using var again = await new ConnectionFactory { Uri = vhost }.CreateConnectionAsync();
        await using var ch = await again.CreateChannelAsync();
        var got = await ch.BasicGetAsync("outage", autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("before the outage", Encoding.UTF8.GetString(got.Body.Span));
    }
}
