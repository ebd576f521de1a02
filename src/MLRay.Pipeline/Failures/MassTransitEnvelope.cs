using System.Text.Json;
using MassTransit;
using MassTransit.Serialization;

namespace MLRay.Pipeline.Failures;

/// <summary>
/// MassTransit's JSON envelope (<c>application/vnd.masstransit+json</c>), written and read with MassTransit's own
/// envelope type and serializer options, for code that talks to the broker with RabbitMQ.Client but must exchange
/// messages with MassTransit consumers and publishers: the payload under <c>message</c>, its type under <c>messageType</c>.
/// </summary>
public static class MassTransitEnvelope
{
    public static string ContentType => SystemTextJsonMessageSerializer.JsonContentType.MediaType;

    /// <summary>What a MassTransit consumer of <typeparamref name="T"/> accepts, addressed to <paramref name="destination"/>.</summary>
    public static byte[] Serialize<T>(T message, string messageId, Uri destination, DateTime sentTime,
        IReadOnlyDictionary<string, object?>? headers = null) where T : class =>
        JsonSerializer.SerializeToUtf8Bytes(new JsonMessageEnvelope
        {
            MessageId = messageId,
            ConversationId = messageId,
            DestinationAddress = destination.ToString(),
            MessageType = [MessageUrn.ForTypeString<T>()],
            Message = message,
            SentTime = sentTime,
            Headers = headers is null ? new Dictionary<string, object?>()! : new Dictionary<string, object?>(headers)!,
        }, SystemTextJsonMessageSerializer.Options);

    /// <summary>
    /// Publishes <paramref name="message"/> in the envelope with RabbitMQ.Client: persistent, <c>mandatory</c> (a message no
    /// queue takes comes back as a <see cref="RabbitMQ.Client.Exceptions.PublishException"/> with <c>IsReturn</c>, not a
    /// silent drop), awaited until the broker confirms (the channel must track confirmations). <paramref name="headers"/>
    /// go where MassTransit puts a message's headers: in the envelope and as AMQP headers.
    /// </summary>
    public static async Task PublishAsync<T>(RabbitMQ.Client.IChannel channel, Topology.RabbitMqEndpoint broker, string exchange, string routingKey,
        T message, IReadOnlyDictionary<string, object?>? headers, CancellationToken ct) where T : class
    {
        var messageId = NewId.NextGuid().ToString();
        var destination = new Uri($"rabbitmq://{broker.Host}/{Uri.EscapeDataString(broker.VirtualHost)}/{(exchange.Length > 0 ? exchange : routingKey)}");
        var body = Serialize(message, messageId, destination, DateTime.UtcNow, headers);
        var amqpHeaders = headers is null ? new Dictionary<string, object?>() : new Dictionary<string, object?>(headers);
        amqpHeaders["Content-Type"] = ContentType;
        var properties = new RabbitMQ.Client.BasicProperties { ContentType = ContentType, MessageId = messageId, Persistent = true, Headers = amqpHeaders };
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, body, ct);
    }

    /// <summary>An envelope read back: its message id and sent time, and the payload as <typeparamref name="T"/> or why it is not one.</summary>
    public sealed record Read<T>(string? MessageId, DateTimeOffset? SentTime, T? Message, string? Problem) where T : class;

    public static Read<T> Deserialize<T>(ReadOnlyMemory<byte> body) where T : class
    {
        JsonMessageEnvelope? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize<JsonMessageEnvelope>(body.Span, SystemTextJsonMessageSerializer.Options);
        }
        catch (JsonException e)
        {
            return new Read<T>(null, null, null, $"not a MassTransit JSON envelope: {e.Message}");
        }
        if (envelope is null) return new Read<T>(null, null, null, "not a MassTransit JSON envelope: null");
        var sent = envelope.SentTime is { } s ? new DateTimeOffset(DateTime.SpecifyKind(s, DateTimeKind.Utc)) : (DateTimeOffset?)null;
        if (envelope.MessageType?.Contains(MessageUrn.ForTypeString<T>()) != true)
            return new Read<T>(envelope.MessageId, sent, null, $"message type {string.Join(", ", envelope.MessageType ?? [])} is not {MessageUrn.ForTypeString<T>()}");
        try
        {
            var message = envelope.Message is JsonElement element ? element.Deserialize<T>(SystemTextJsonMessageSerializer.Options) : null;
            return new Read<T>(envelope.MessageId, sent, message, message is null ? "the envelope has no message" : null);
        }
        catch (JsonException e)
        {
            return new Read<T>(envelope.MessageId, sent, null, $"the message is not a {typeof(T).Name}: {e.Message}");
        }
    }
}
