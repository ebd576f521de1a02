namespace MLRay.Pipeline.Messages;

/// <summary>
/// A hint that something about a registered model may have changed (a webhook, or the periodic resync).
/// The router re-reads the registry: the message says where to look, never what to deploy.
/// </summary>
public sealed record RegistryChanged
{
    public required string RegisteredModel { get; init; }
    /// <summary>The version the event named, if any (informational).</summary>
    public string? Version { get; init; }
    /// <summary>The alias the event named, if any (informational).</summary>
    public string? Alias { get; init; }
    /// <summary>The MLflow event (<c>model_version.created</c>…) or <c>resync</c>.</summary>
    public required string Reason { get; init; }
    /// <summary>MLflow's <c>X-MLflow-Delivery-Id</c>, carried through to the deploy's logs.</summary>
    public string? DeliveryId { get; init; }
}

/// <summary>
/// A request for one cluster's worker to reconcile the whole cluster. Published to the topic exchange
/// <c>mlray.deploy</c> with <see cref="RoutingKey"/> = the model's Python version (<c>3.9.22</c>), or
/// <c>all</c> when every cluster should look (a model removed, disabled, or the resync sweep).
/// </summary>
public sealed record ClusterDeployRequested
{
    public required string RoutingKey { get; init; }
    public string? RegisteredModel { get; init; }
    public string? Version { get; init; }
    public required string Reason { get; init; }
    public string? DeliveryId { get; init; }
}

/// <summary>A model no cluster can serve (no cluster for its Python, or unreadable environment), parked with the reason.</summary>
public sealed record ModelUnroutable
{
    public required string RegisteredModel { get; init; }
    public string? Version { get; init; }
    public string? Python { get; init; }
    public required string Reason { get; init; }
    public string? DeliveryId { get; init; }
}
