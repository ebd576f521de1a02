namespace MLRay.Pipeline;

/// <summary>What one process runs. The receiver publishes; the router and workers consume.</summary>
public sealed record PipelineRoles
{
    /// <summary>Publishes RegistryChanged (webhooks) and runs the periodic resync.</summary>
    public bool Receiver { get; init; }
    /// <summary>Consumes <c>mlray.registry-changes</c> and routes by Python version.</summary>
    public bool Router { get; init; }
    /// <summary>Clusters whose queue this process consumes (single active consumer per queue).</summary>
    public IReadOnlyList<string> Clusters { get; init; } = [];
    /// <summary>Use MassTransit's in-memory transport instead of RabbitMQ (the demo, when no broker is reachable).</summary>
    public bool InMemory { get; init; }
}
