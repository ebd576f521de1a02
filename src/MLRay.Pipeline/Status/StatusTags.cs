using MLRay.Deploy;
using MLRay.Serve;

namespace MLRay.Pipeline.Status;

public static class DeployStatus
{
    public const string Deploying = "DEPLOYING";
    public const string Running = "RUNNING";
    public const string Failed = "FAILED";
    public const string Undeployed = "UNDEPLOYED";
}

/// <summary>The status MLRay shows on one model version's MLflow page for one cluster.</summary>
public sealed record StatusTag(string RegisteredModel, string Version, string Status, string Message, string Endpoint);

/// <summary>
/// Pure: a deploy's outcome → the <c>mlray.&lt;cluster&gt;.status|message|endpoint|updated_at</c> tags to write.
/// Models meant for other clusters get nothing here; a model whose app this cluster removed is marked UNDEPLOYED.
/// </summary>
public static class StatusTags
{
    /// <summary>MLflow's older tag-value limit is 5000 characters; Ray tracebacks are longer.</summary>
    public const int MaxMessageLength = 4000;

    public static string Key(string cluster, string field) => $"mlray.{cluster}.{field}";

    public static IReadOnlyList<StatusTag> Deploying(DesiredState desired, ServePlan plan) =>
        plan.Applied.Where(c => c.RegisteredModel is not null && c.Version is not null)
            .Select(c => new StatusTag(c.RegisteredModel!, c.Version!, DeployStatus.Deploying,
                $"applied to {desired.Cluster.Name}; waiting for Ray", ""))
            .ToList();

    public static IReadOnlyList<StatusTag> FromReport(DeployReport report)
    {
        var cluster = report.Desired.Cluster;
        var tags = new List<StatusTag>();
        foreach (var m in report.Desired.Models)
        {
            switch (m.Kind)
            {
                case ModelOutcomeKind.Selected when m.Version is not null:
                {
                    var app = report.Apps.FirstOrDefault(a => a.App == m.AppName);
                    if (app is null) break;
                    var route = (string?)report.Plan.Config["applications"]!.AsArray()
                        .FirstOrDefault(a => (string?)a?["name"] == app.App)?["route_prefix"] ?? "/" + app.App;
                    tags.Add(app.Outcome switch
                    {
                        AppOutcome.Running => new StatusTag(m.RegisteredModel, m.Version, DeployStatus.Running, "",
                            new Uri(cluster.EffectiveServeAddress, route.TrimStart('/')).ToString()),
                        AppOutcome.Failed => new StatusTag(m.RegisteredModel, m.Version, DeployStatus.Failed,
                            Bound(RayMessage.Summarize(app.Message, MaxMessageLength)), ""),
                        _ => new StatusTag(m.RegisteredModel, m.Version, DeployStatus.Deploying, Bound(app.Message), ""),
                    });
                    break;
                }
                case ModelOutcomeKind.Invalid when m.Version is not null:
                    tags.Add(new StatusTag(m.RegisteredModel, m.Version, DeployStatus.Failed, Bound(string.Join("\n", m.Problems)), ""));
                    break;
            }
        }
        foreach (var removed in report.Plan.Changes.Where(c => c.Kind == AppChangeKind.Removed && c.RegisteredModel is not null && c.Version is not null))
        {
            var why = report.Desired.Models.FirstOrDefault(m => m.RegisteredModel == removed.RegisteredModel)?.Problems.FirstOrDefault()
                      ?? "the registered model no longer exists or is no longer selected";
            tags.Add(new StatusTag(removed.RegisteredModel!, removed.Version!, DeployStatus.Undeployed, $"removed from {cluster.Name}: {why}", ""));
        }
        // A model whose new version replaced an older one: the old version is no longer served here.
        foreach (var updated in report.Plan.Changes.Where(c => c.Kind == AppChangeKind.Updated
                     && c is { RegisteredModel: not null, PreviousVersion: not null } && c.PreviousVersion != c.Version))
            tags.Add(new StatusTag(updated.RegisteredModel!, updated.PreviousVersion!, DeployStatus.Undeployed,
                $"replaced by version {updated.Version} on {cluster.Name}", ""));
        return tags;
    }

    private static string Bound(string message) =>
        message.Length <= MaxMessageLength ? message : message[..(MaxMessageLength - 1)] + "…";
}
