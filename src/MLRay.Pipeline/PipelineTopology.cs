namespace MLRay.Pipeline;

/// <summary>The broker names MLRay uses; documented in the README.</summary>
public static class PipelineTopology
{
    /// <summary>Fanout exchange the receiver and resync publish <c>RegistryChanged</c> to.</summary>
    public const string RegistryChangedExchange = "mlray.registry-changed";
    /// <summary>The router's queue (competing consumers).</summary>
    public const string RegistryChangesQueue = "mlray.registry-changes";
    /// <summary>
    /// Fanout exchange and queue (single active consumer: the active router) where every receiver's resync timer ticks;
    /// one resync runs per interval however many receivers there are.
    /// </summary>
    public const string ResyncExchange = "mlray.resync";
    public const string ResyncQueue = "mlray.resync";
    /// <summary>Topic exchange: routing key = Python version, or <see cref="BroadcastKey"/>.</summary>
    public const string DeployExchange = "mlray.deploy";
    public const string BroadcastKey = "all";
    /// <summary>Fanout exchange and queue where models no cluster can serve are parked.</summary>
    public const string UnroutableExchange = "mlray.unroutable";
    public const string UnroutableQueue = "mlray.unroutable";
    /// <summary>Header carrying MLflow's <c>X-MLflow-Delivery-Id</c> from the receiver through router and worker.</summary>
    public const string DeliveryIdHeader = "mlray-delivery-id";
    /// <summary>Header carrying the reason on parked messages.</summary>
    public const string ReasonHeader = "mlray-reason";

    /// <summary>One queue per Ray cluster (single active consumer: one writer per cluster).</summary>
    public static string ClusterQueue(string cluster) => $"mlray.cluster.{cluster}";

    /// <summary>Where MassTransit moves a queue's messages that still fail after the in-process retries.</summary>
    public static string ErrorQueue(string queue) => $"{queue}_error";

    /// <summary>Direct exchange for dead letters; routing key = cluster name.</summary>
    public const string DeadLetterExchange = "mlray.dead-letters";
    /// <summary>Fanout of <see cref="Messages.ReconcileReported"/>: the workers' reconciles, for the receivers' ops consoles.</summary>
    public const string ActivityExchange = "mlray.activity";

    /// <summary>A cluster's dead letters: a classic durable queue nothing consumes, so listing it (get, then requeue) keeps its order.</summary>
    public static string DeadLetterQueue(string cluster) => $"mlray.cluster.{cluster}.dead-letters";

    /// <summary>
    /// Where a wake-up for <paramref name="cluster"/> waits <paramref name="delay"/>: a fanout exchange and queue of that
    /// name, whose messages expire (per-message TTL) into the default exchange with the cluster queue as routing key.
    /// The broker holds the wait, so it survives any worker's restart (Debian's RabbitMQ has no delayed-message plugin).
    /// </summary>
    public static string WaitQueue(string cluster, TimeSpan delay) => $"mlray.cluster.{cluster}.wait.{(long)delay.TotalSeconds}s";

    /// <summary>'3.9' → <c>3.9.#</c> (any patch, or none); '3.9.22' → <c>3.9.22</c> (exact).</summary>
    public static string BindingKey(PythonVersionSpec cluster) =>
        cluster.Patch is null ? $"{cluster.Major}.{cluster.Minor}.#" : cluster.ToString();

    /// <summary>The routing key of a model's Python version: <c>3.9.22</c>.</summary>
    public static string RoutingKey(PythonVersionSpec model) => model.ToString();
}
