using MLRay.Pipeline.Topology;

namespace MLRay.Pipeline.Failures;

/// <summary>One cluster's dead letters, in queue order (oldest first).</summary>
public sealed record ClusterDeadLetters(string Cluster, IReadOnlyList<DeadLetterEntry> Letters);

/// <summary>What a listing read: each cluster's letters, and the models parked in <c>mlray.unroutable</c> when every cluster was listed (else null).</summary>
public sealed record DeadLetterListing(IReadOnlyList<ClusterDeadLetters> Clusters, IReadOnlyList<UnroutableEntry>? Unroutable);

/// <summary>
/// What ops do with dead letters — list (with the unroutable models), find one by id, replay, purge — as one service for
/// <c>mlray dlq</c>, the receiver's ops API and the demo, so all three read, select and answer alike. A cluster comes in as
/// a <see cref="RayClusterConfig"/>: each caller resolves the name with <see cref="MLRayConfig.GetCluster"/> and reports
/// its one error its own way (exit 2, 404), and no operation can be asked about a cluster the config does not have.
/// </summary>
public sealed class DeadLetterOperations(DeadLetterStore store, MLRayConfig config)
{
    /// <summary>On the config's broker (<c>rabbitmq.uri</c>).</summary>
    public DeadLetterOperations(MLRayConfig config) : this(new DeadLetterStore(RabbitMqEndpoint.For(config.Pipeline)), config)
    {
    }

    /// <summary><paramref name="only"/>'s letters; without it, every configured cluster's and the unroutable models.</summary>
    public async Task<DeadLetterListing> ListAsync(RayClusterConfig? only, CancellationToken ct)
    {
        var clusters = new List<ClusterDeadLetters>();
        foreach (var cluster in only is null ? config.Clusters : [only])
            clusters.Add(new ClusterDeadLetters(cluster.Name, await store.ListAsync(cluster.Name, ct)));
        return new DeadLetterListing(clusters, only is null ? await store.ListUnroutableAsync(ct) : null);
    }

    /// <summary>Letter <paramref name="id"/> of <paramref name="cluster"/>; null when there is none (<see cref="DeadLetterStore.NoSuchLetter"/> says so).</summary>
    public async Task<DeadLetterEntry?> FindAsync(RayClusterConfig cluster, string id, CancellationToken ct) =>
        (await store.ListAsync(cluster.Name, ct)).FirstOrDefault(e => e.Id == id);

    /// <summary>Deploys the selected letters' versions again (see <see cref="DeadLetterStore.ReplayAsync"/>); each letter goes once its replay is confirmed.</summary>
    public Task<DeadLetterOutcome> ReplayAsync(RayClusterConfig cluster, LetterSelection selection, CancellationToken ct) =>
        store.ReplayAsync(cluster.Name, selection, ct);

    /// <summary>Removes the selected letters for good.</summary>
    public Task<DeadLetterOutcome> PurgeAsync(RayClusterConfig cluster, LetterSelection selection, CancellationToken ct) =>
        store.PurgeAsync(cluster.Name, selection, ct);
}
