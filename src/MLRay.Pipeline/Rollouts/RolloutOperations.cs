using System.Text.Json;
using MLRay.Deploy;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Publishing;
using MLRay.Pipeline.Topology;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Pipeline.Rollouts;

/// <summary>A command that went to a cluster's queue: for which rollout (its candidate as the tags showed it), and where.</summary>
public sealed record RolloutSent(string Cluster, string RegisteredModel, RolloutVersion Rollout, RolloutCommand Command, string Queue);

/// <summary>
/// An operator's rollout request that cannot be met: the registered model does not exist (<see cref="UnknownModel"/>), or
/// it has no rollout in progress on that cluster. The message names both.
/// </summary>
public sealed class RolloutRefusedException(string message, bool unknownModel = false) : Exception(message)
{
    public bool UnknownModel => unknownModel;
}

/// <summary>
/// What ops do with gateway rollouts — see one model's (<see cref="StatusAsync"/>), list those in progress, and ask for a
/// pause, resume, promote or abort — as one service for <c>mlray rollout</c> and the receiver's ops API. Reading goes to
/// the registry's tags and the gateway's stats; a command never writes state: only the cluster's worker does (the single
/// active consumer of its queue), so a command is a <see cref="ClusterDeployRequested"/> in that queue, applied at the
/// worker's next reconcile. Clusters come in resolved, as for <see cref="Failures.DeadLetterOperations"/>.
/// </summary>
public sealed class RolloutOperations(MlflowClient mlflow, RegistryReader registry, IHttpClientFactory http, ClusterQueueSender sender, MLRayConfig config)
{
    /// <summary>Commands on the config's broker (<c>rabbitmq.uri</c>).</summary>
    public RolloutOperations(MlflowClient mlflow, RegistryReader registry, IHttpClientFactory http, MLRayConfig config)
        : this(mlflow, registry, http, new ClusterQueueSender(RabbitMqEndpoint.For(config.Pipeline)), config)
    {
    }

    /// <summary>The one "nothing to command" problem (CLI exit 1, API 409).</summary>
    public static string NoRollout(string cluster, string model) => $"no rollout in progress for '{model}' on '{cluster}'";

    /// <summary>
    /// <paramref name="model"/>'s versions on <paramref name="cluster"/>, with the gateway's stats for its route on a
    /// <c>traffic: gateway</c> cluster (stats that cannot be read are said so in <see cref="RolloutStatus.Stats"/>, not thrown).
    /// </summary>
    /// <exception cref="RolloutRefusedException">The registered model does not exist.</exception>
    public async Task<RolloutStatus> StatusAsync(RayClusterConfig cluster, string model, CancellationToken ct)
    {
        var (registered, versions) = await ReadModelAsync(model, ct);
        if (registered is null) throw new RolloutRefusedException($"registered model '{model}' does not exist", unknownModel: true);
        var status = RolloutStatus.From(cluster, model, versions);
        return cluster.Serving.Traffic == TrafficMode.Gateway ? await WithGatewayStatsAsync(status, registered, versions, ct) : status;
    }

    /// <summary>Every rollout in progress on <paramref name="only"/>, or on every cluster, by cluster and model (from the tags alone: no stats).</summary>
    public async Task<IReadOnlyList<RolloutStatus>> ListAsync(RayClusterConfig? only, CancellationToken ct)
    {
        var (_, versions) = await registry.ReadVersionsAsync(ct);
        var byModel = versions.GroupBy(v => v.Name, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        return [.. (only is null ? config.Clusters : [only])
            .SelectMany(cluster => byModel.Select(model => RolloutStatus.From(cluster, model.Key, model)))
            .Where(s => s.InProgress is not null)];
    }

    /// <summary>
    /// Asks <paramref name="cluster"/>'s worker to apply <paramref name="command"/> to <paramref name="model"/>'s rollout:
    /// checks there is one in progress, then puts the request in the cluster's queue and waits for the broker's confirm.
    /// </summary>
    /// <exception cref="RolloutRefusedException">No rollout of that model is in progress on that cluster.</exception>
    /// <exception cref="Failures.BrokerException">The broker is unreachable or did not take the request.</exception>
    public async Task<RolloutSent> SendAsync(RayClusterConfig cluster, string model, RolloutCommand command, CancellationToken ct)
    {
        var (_, versions) = await ReadModelAsync(model, ct);
        var rollout = RolloutStatus.From(cluster, model, versions).InProgress ?? throw new RolloutRefusedException(NoRollout(cluster.Name, model));
        var queue = PipelineTopology.ClusterQueue(cluster.Name);
        await sender.SendAsync(cluster.Name, new ClusterDeployRequested
        {
            RoutingKey = queue, RegisteredModel = model, Version = rollout.Version, Reason = $"rollout {command.Name()}", RolloutCommand = command.Name(),
        }, ct);
        return new RolloutSent(cluster.Name, model, rollout, command, queue);
    }

    /// <summary>The registered model (null when it does not exist) and its versions with their tags; no environment is read.</summary>
    private async Task<(RegisteredModel? Model, IReadOnlyList<ModelVersion> Versions)> ReadModelAsync(string model, CancellationToken ct)
    {
        var registered = mlflow.GetRegisteredModelAsync(model, ct);
        var versions = mlflow.SearchModelVersionsAsync(model, ct);
        try
        {
            await ServiceErrors.WhenAllAsync(registered, versions);
        }
        catch (MlflowException e) when (e.IsNotFound)
        {
            return (null, []);
        }
        return (registered.Result, versions.Result);
    }

    /// <summary>The model's route is its <c>ray.route_prefix</c> under the gateway's prefix, from the tags of the version in question.</summary>
    private async Task<RolloutStatus> WithGatewayStatsAsync(RolloutStatus status, RegisteredModel model, IReadOnlyList<ModelVersion> versions, CancellationToken ct)
    {
        var cluster = status.Cluster;
        var about = (status.InProgress ?? status.Versions.FirstOrDefault())?.Version;
        var tags = versions.FirstOrDefault(v => v.Version == about)?.TagMap ?? new Dictionary<string, string>();
        if (DeploymentTags.Parse(DeploymentTags.Effective(model.TagMap, tags)).Spec is not { } spec)
            return status with { Stats = new RolloutStats(null, null, "the model's ray.* tags do not parse, so its route through the gateway is unknown") };
        var route = GatewayLayout.ClientRoute(cluster.Serving.Gateway.RoutePrefix, spec.RoutePrefix);
        try
        {
            return status.WithStats(route, await GatewayStats.ReadAsync(http, cluster, ct));
        }
        catch (Exception e) when (e is HttpRequestException or JsonException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            var why = e is OperationCanceledException ? $"no answer within {MLRay.Http.MLRayHttpClients.AttemptTimeout.TotalSeconds:0} s" : e.Message;
            return status with { Stats = new RolloutStats(route, null, $"the gateway's stats at {GatewayLayout.StatsUri(cluster)} could not be read: {why}") };
        }
    }
}
