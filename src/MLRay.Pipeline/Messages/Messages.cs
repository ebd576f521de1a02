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
    /// <summary>
    /// When the receiver took the webhook: the change it reports was in the registry by then, so any registry read begun
    /// later sees it (<see cref="ClusterDeployRequested.QueuedAt"/> carries it on).
    /// </summary>
    public DateTimeOffset? QueuedAt { get; init; }
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
    /// <summary>Set by <c>mlray dlq replay</c>: the letter whose version gets a fresh set of attempts (once: a second replay of it is a no-op).</summary>
    public string? ReplayOf { get; init; }
    /// <summary>Set by <c>mlray rollout pause|resume|promote|abort</c> (with <see cref="RegisteredModel"/>): applied to that model's rollout by the worker, the one writer.</summary>
    public string? RolloutCommand { get; init; }
    /// <summary>How many transient failures in a row led to this wake-up (0 for a first try), for the backoff.</summary>
    public int TransientFailures { get; init; }
    /// <summary>
    /// From when a registry read answers this request: the webhook's arrival at the receiver, a sweep's publish, a wake-up's
    /// due time. A reconcile whose registry read began later answers it, so the worker acks it without another reconcile
    /// (<see cref="Workers.RequestCoalescing"/>). Null (handover, older senders): always reconciled.
    /// </summary>
    public DateTimeOffset? QueuedAt { get; init; }
    /// <summary>
    /// On a resync's sweep: the cluster whose worker also takes the routing census from the registry it reads (parks the
    /// models no cluster takes, releases those a cluster now takes) — one worker, so the census costs no read of its own.
    /// </summary>
    public string? CensusCluster { get; init; }
}

/// <summary>
/// A tick of some receiver's resync timer (or an operator's request), sent to the single-active-consumer queue
/// <c>mlray.resync</c>: the active router runs one resync per interval however many receivers tick.
/// </summary>
public sealed record ResyncRequested
{
    public required DateTimeOffset RequestedAt { get; init; }
    /// <summary>Who ticked (host and process), for the log.</summary>
    public string? Requester { get; init; }
    /// <summary>Run even if a resync ran within the interval (<c>PipelineWorld.ResyncAndWaitAsync</c>, an operator).</summary>
    public bool Now { get; init; }
}

/// <summary>A model no cluster can serve (no cluster for its Python, or unreadable environment), parked with the reason.</summary>
public sealed record ModelUnroutable
{
    public required string RegisteredModel { get; init; }
    public string? Version { get; init; }
    public string? Python { get; init; }
    public required string Reason { get; init; }
    public string? DeliveryId { get; init; }

    /// <summary>A parked message still says what a later look found: same version, same reason.</summary>
    public bool SameParking(ModelUnroutable other) => RegisteredModel == other.RegisteredModel && Version == other.Version && Reason == other.Reason;
}

/// <summary>
/// A dead letter: one (model version, cluster) MLRay stopped trying to deploy, with everything ops need to act on it.
/// Kept in the cluster's durable queue <c>mlray.cluster.&lt;name&gt;.dead-letters</c> until replayed or purged.
/// </summary>
public sealed record ModelDeadLettered
{
    /// <summary>Unique id of this letter (also written to the version's <c>mlray.&lt;cluster&gt;.attempt</c> tag).</summary>
    public required string Id { get; init; }
    public required string Cluster { get; init; }
    public required string RegisteredModel { get; init; }
    public required string Version { get; init; }
    public string? App { get; init; }
    /// <summary>One of <see cref="FailureClass"/>.</summary>
    public required string FailureClass { get; init; }
    /// <summary>Ray's message (pip's or the traceback) or MLRay's reason, in full.</summary>
    public required string Message { get; init; }
    public int Attempts { get; init; }
    public DateTimeOffset FirstFailure { get; init; }
    public DateTimeOffset LastFailure { get; init; }
    /// <summary>MLflow delivery ids of the webhooks whose reconciles led here.</summary>
    public IReadOnlyList<string> DeliveryIds { get; init; } = [];
}

/// <summary>
/// One reconcile as its worker reports it, for the ops console's activity page: published to the fanout exchange
/// <c>mlray.activity</c>, where each receiver's temporary queue takes a copy (kept in that receiver's memory: no queue keeps them).
/// </summary>
public sealed record ReconcileReported
{
    public required string Cluster { get; init; }
    public required DateTimeOffset At { get; init; }
    public required double DurationSeconds { get; init; }
    /// <summary>What asked for it: each request's reason, with its model when it names one (<c>replay iris.staging</c>).</summary>
    public required IReadOnlyList<string> Triggers { get; init; }
    /// <summary>Whether it PUT a new Serve config.</summary>
    public required bool Applied { get; init; }
    /// <summary>Each version it decided on: <c>model/version=Phase</c>.</summary>
    public required IReadOnlyList<string> Decisions { get; init; }
}
