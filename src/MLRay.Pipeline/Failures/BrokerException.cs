using MLRay.Pipeline.Topology;
using RabbitMQ.Client.Exceptions;

namespace MLRay.Pipeline.Failures;

/// <summary>The broker refused or could not be reached; the message says what MLRay was doing.</summary>
public sealed class BrokerException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>
    /// Runs one operation on <paramref name="broker"/> with RabbitMQ.Client's many exception types turned into one
    /// <see cref="BrokerException"/> that names the broker (without its password) and what was being done (<paramref name="what"/>).
    /// </summary>
    public static async Task<T> GuardAsync<T>(RabbitMqEndpoint broker, string what, Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (Exception e) when (e is RabbitMQClientException or BrokerUnreachableException or IOException or PublishException)
        {
            throw new BrokerException($"RabbitMQ at {broker}: could not {what}: {e.Message}", e);
        }
    }
}
