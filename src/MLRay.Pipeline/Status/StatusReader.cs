using System.Text.Json;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Topology;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Pipeline.Status;

/// <summary>One cluster's answer: its apps, or why it could not be read.</summary>
public sealed record ClusterStatus(RayClusterConfig Cluster, ServeInstance? Instance, ServiceFailure? Error)
{
    public bool Reachable => Error is null;
    public IReadOnlyList<ServeApp> Apps => Instance?.Applications.Values.OrderBy(a => a.Name, StringComparer.Ordinal).ToList() ?? [];
}

/// <summary>
/// What a status read found: the clusters, the models' rows (null when MLflow could not be read), the registry snapshot
/// they came from (for the versions' tags), what could not be read, and notes (the dead-letter queues not read…).
/// </summary>
public sealed record StatusReport(IReadOnlyList<ClusterStatus> Clusters, IReadOnlyList<ModelStatusRow>? Models,
    IReadOnlyList<ServiceFailure> Failures, IReadOnlyList<string> Notes)
{
    public RegistrySnapshot? Snapshot { get; init; }
    public IReadOnlyDictionary<string, int> Counts => ModelStatus.All.ToDictionary(s => s, s => Models?.Count(m => m.Status == s) ?? 0);
}

/// <summary>
/// Ray (every cluster), the registry and the dead-letter queues side by side → <see cref="ModelStatusReport"/>'s rows: the one
/// reader behind <c>mlray status</c> and the receiver's ops console. Every failure is kept in the report, none thrown.
/// </summary>
public sealed class StatusReader(MLRayConfig config, ClusterReconcilers clusters, RegistryReader registry)
{
    /// <summary>A broker that accepts connections but does not answer must not hold up the rest of the report.</summary>
    public static readonly TimeSpan BrokerReadTimeout = TimeSpan.FromSeconds(10);

    public async Task<StatusReport> ReadAsync(CancellationToken ct)
    {
        // Every client first: a missing auth token is a config error, raised before any cluster is contacted.
        var clients = config.Clusters.Select(c => (Cluster: c, Client: clusters.Ray(c.Name))).ToList();
        var rays = clients.Select(c => ReadClusterAsync(c.Cluster, c.Client, ct)).ToList();
        var read = registry.ReadSnapshotAsync(ct);
        var letters = ReadDeadLettersAsync(ct);
        var answers = await Task.WhenAll(rays);
        var failures = answers.Select(c => c.Error).OfType<ServiceFailure>().ToList();
        RegistrySnapshot? snapshot = null;
        try
        {
            snapshot = await read;
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e))
        {
            failures.InsertRange(0, ServiceErrors.Describe(e, config));
        }
        var (lettered, notes) = await letters;
        var models = snapshot is null ? null
            : ModelStatusReport.For([.. answers.Select(c => (DesiredState.For(c.Cluster, snapshot.Models, c.Instance), c.Instance))], snapshot, lettered);
        return new StatusReport(answers, models, failures, notes) { Snapshot = snapshot };
    }

    private async Task<ClusterStatus> ReadClusterAsync(RayClusterConfig cluster, RayDashboardClient client, CancellationToken ct)
    {
        try
        {
            return new ClusterStatus(cluster, await client.GetApplicationsAsync(ct), null);
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e) || e is JsonException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            var failure = ServiceErrors.IsServiceError(e) ? ServiceErrors.Describe(e, config, cluster)[0] : new ServiceFailure(null, e.Message);
            return new ClusterStatus(cluster, null, failure with { Service = failure.Service ?? ServiceEndpoint.RayDashboard(config, cluster) });
        }
    }

    /// <summary>
    /// The (cluster, model, version) of every dead letter, with its latest failure time. The broker is optional here (<c>mlray deploy</c> alone needs none):
    /// when it cannot be read, a note says so and the versions' attempt tags still show what was dead-lettered.
    /// </summary>
    private async Task<(IReadOnlyDictionary<(string, string, string), DateTimeOffset> Letters, IReadOnlyList<string> Notes)> ReadDeadLettersAsync(CancellationToken ct)
    {
        var store = new DeadLetterStore(RabbitMqEndpoint.For(config.Pipeline)) { LockWait = TimeSpan.FromSeconds(3) };
        var letters = new Dictionary<(string, string, string), DateTimeOffset>();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(BrokerReadTimeout);
        try
        {
            foreach (var cluster in config.Clusters)
                foreach (var entry in await store.ListIfDeclaredAsync(cluster.Name, bounded.Token))
                    if (entry.Letter is { } l && (!letters.TryGetValue((cluster.Name, l.RegisteredModel, l.Version), out var seen) || seen < l.LastFailure))
                        letters[(cluster.Name, l.RegisteredModel, l.Version)] = l.LastFailure;
            return (letters, []);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (letters, [NotRead($"no answer within {BrokerReadTimeout.TotalSeconds:0} s")]);
        }
        catch (BrokerException e)
        {
            return (letters, [NotRead(e.Message)]);
        }
    }

    /// <summary>The note when the dead-letter queues could not be read (the console shows its data as stale on it).</summary>
    public const string DeadLettersNotRead = "dead-letter queues not read";

    private string NotRead(string why) =>
        $"{DeadLettersNotRead} ({new ServiceFailure(ServiceEndpoint.Broker(config), why)}); dead letters shown from the versions' tags";
}
