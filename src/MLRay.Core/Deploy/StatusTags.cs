using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>The status MLRay shows on one model version's MLflow page for one cluster.</summary>
public sealed record StatusTag(string RegisteredModel, string Version, string Status, string Message, string Endpoint);

/// <summary>
/// Pure: a reconcile's decisions → the <c>mlray.&lt;cluster&gt;.status|message|endpoint|updated_at</c> tags to write.
/// Models meant for other clusters get nothing here; a model whose app this cluster removed is marked UNDEPLOYED.
/// </summary>
public static class StatusTags
{
    /// <summary>MLflow's older tag-value limit is 5000 characters; Ray tracebacks are longer.</summary>
    public const int MaxMessageLength = 4000;

    /// <summary>
    /// The tags of one reconcile: each decided version's phase (<c>DEPLOYING</c>, <c>RUNNING</c>, <c>FAILED</c> while it
    /// waits to retry or once dead-lettered), the version that serves instead of a failed one (<c>DEPLOYING</c> from the
    /// rollback until Ray is seen running it, then <c>RUNNING</c>), the older versions a running one replaced
    /// (<c>UNDEPLOYED</c>), and the apps the PUT removed for other reasons (model gone, disabled, no eligible version).
    /// </summary>
    public static IReadOnlyList<StatusTag> FromAttempts(DesiredState desired, AttemptPlan attempts, ServePlan plan, RegistrySnapshot snapshot)
    {
        var cluster = desired.Cluster;
        var tags = new List<StatusTag>();
        var decided = attempts.Decisions.Select(d => (d.RegisteredModel, d.Version)).ToHashSet();
        foreach (var d in attempts.Decisions)
        {
            tags.Add(d.Phase switch
            {
                AttemptPhase.Running => new StatusTag(d.RegisteredModel, d.Version, DeployStatus.Running, d.Challenger ? Bound(d.Message) : "", Endpoint(cluster, plan, d)),
                AttemptPhase.RollingOut => new StatusTag(d.RegisteredModel, d.Version, DeployStatus.RollingOut, Bound(d.Message), Endpoint(cluster, plan, d)),
                AttemptPhase.Deploying => new StatusTag(d.RegisteredModel, d.Version, DeployStatus.Deploying, Bound(d.Message), ""),
                AttemptPhase.Pending => new StatusTag(d.RegisteredModel, d.Version, DeployStatus.Pending, d.Message, ""),
                _ => new StatusTag(d.RegisteredModel, d.Version, DeployStatus.Failed,
                    Bound(RayMessage.Summarize(d.Message, MaxMessageLength) + (d.ServedVersion is { } v ? $"\nversion {v} serves on {cluster.Name} meanwhile" : "")), ""),
            });
            if (d is { ServedVersion: { } served, Served: { } judged } && !decided.Contains((d.RegisteredModel, served)))
                tags.Add(judged.Outcome switch
                {
                    AppOutcome.Running => new StatusTag(d.RegisteredModel, served, DeployStatus.Running, "", Endpoint(cluster, plan, d)),
                    AppOutcome.Failed => new StatusTag(d.RegisteredModel, served, DeployStatus.Failed,
                        Bound($"the rollback to this version on {cluster.Name} (version {d.Version} failed) failed too: {RayMessage.Summarize(judged.Message, MaxMessageLength)}"), ""),
                    _ => new StatusTag(d.RegisteredModel, served, DeployStatus.Deploying,
                        $"rolled back to this version on {cluster.Name} because version {d.Version} failed; waiting for Ray to run it again", ""),
                });
            // A version that now runs replaces the older ones that ran or were on their way.
            if (d is { Phase: AttemptPhase.Running, Challenger: false })
                foreach (var older in snapshot.VersionsOf(d.RegisteredModel).Where(v => v.Version != d.Version && !decided.Contains((d.RegisteredModel, v.Version))
                             && v.TagMap.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Status)) is DeployStatus.Running or DeployStatus.Deploying))
                    tags.Add(new StatusTag(d.RegisteredModel, older.Version, DeployStatus.Undeployed, $"replaced by version {d.Version} on {cluster.Name}", ""));
        }
        var tagged = tags.Select(t => (t.RegisteredModel, t.Version)).ToHashSet();
        foreach (var removed in plan.Changes.Where(c => c is { Kind: AppChangeKind.Removed, RegisteredModel: not null, Version: not null }
                     && !decided.Contains((c.RegisteredModel!, c.Version!)) && !tagged.Contains((c.RegisteredModel!, c.Version!))))
        {
            var model = desired.Models.FirstOrDefault(m => m.RegisteredModel == removed.RegisteredModel);
            var why = model?.Problems.FirstOrDefault()
                      ?? (model is { Kind: ModelOutcomeKind.Selected, Version: { } served } ? $"version {served} is served and this version is no longer selected (nor the challenger)"
                          : "the registered model no longer exists or is no longer selected");
            tags.Add(new StatusTag(removed.RegisteredModel!, removed.Version!, DeployStatus.Undeployed, $"removed from {cluster.Name}: {why}", ""));
        }
        return tags;
    }

    private static string Endpoint(RayClusterConfig cluster, ServePlan plan, AttemptDecision d) =>
        d.Route is { } route ? new Uri(cluster.EffectiveServeAddress, route.TrimStart('/')).ToString() : Endpoint(cluster, plan, d.AppName!);

    private static string Endpoint(RayClusterConfig cluster, ServePlan plan, string app)
    {
        var route = (string?)plan.Config["applications"]!.AsArray().FirstOrDefault(a => (string?)a?["name"] == app)?["route_prefix"] ?? "/" + app;
        return new Uri(cluster.EffectiveServeAddress, route.TrimStart('/')).ToString();
    }

    private static string Bound(string message) =>
        message.Length <= MaxMessageLength ? message : message[..(MaxMessageLength - 1)] + "…";
}
