using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>One selected model version on one cluster (cluster null: no cluster takes it), its status and why.</summary>
public sealed record ModelStatusRow(string? Cluster, string RegisteredModel, string? Version, string Status, string Detail);

/// <summary>
/// Pure: what Ray runs, what the registry selects (with MLRay's tags on the versions) and which versions have a dead letter
/// → one row per selected model version and cluster. A model no cluster takes is one UNROUTABLE row; a model whose
/// environment cannot be read is one FAILED row (no cluster can be chosen for it).
/// </summary>
public static class ModelStatusReport
{
    public static IReadOnlyList<ModelStatusRow> For(IReadOnlyList<(DesiredState Desired, ServeInstance? Current)> clusters, RegistrySnapshot snapshot,
        IReadOnlyDictionary<(string Cluster, string Model, string Version), DateTimeOffset> deadLetters)
    {
        var rows = new List<ModelStatusRow>();
        foreach (var candidate in snapshot.Models.Where(c => c.Version is not null && !c.NothingToServe && c.Tags is not { Disabled: true }))
        {
            var name = candidate.RegisteredModel;
            var version = candidate.Version!.Version;
            var outcomes = clusters.Select(c => (c.Desired.Cluster, c.Current, Outcome: c.Desired.Models.FirstOrDefault(m => m.RegisteredModel == name))).ToList();
            if (candidate.Environment is null)
            {
                rows.Add(new ModelStatusRow(null, name, version, ModelStatus.Failed, candidate.Problem ?? "the model's environment could not be read"));
                continue;
            }
            var mine = outcomes.Where(o => o.Outcome is { Kind: not ModelOutcomeKind.OtherCluster }).ToList();
            if (mine.Count == 0)
            {
                rows.Add(new ModelStatusRow(null, name, version, ModelStatus.Unroutable,
                    $"no configured cluster serves Python {candidate.Environment.Python} ({string.Join(", ", clusters.Select(c => $"{c.Desired.Cluster.Name}={c.Desired.Cluster.PythonVersion}"))})"));
                continue;
            }
            foreach (var (cluster, current, outcome) in mine)
            {
                var tags = snapshot.TagsOf(name, version) ?? new Dictionary<string, string>();
                var tagMessage = tags.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Message)) ?? "";
                var lettered = LetterOfThisVersion(deadLetters, cluster.Name, candidate.Version)
                               || AttemptState.Parse(tags.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Attempt)))?.DeadLetter is not null;
                rows.Add(new ModelStatusRow(cluster.Name, name, version, Row(outcome!, current, tags.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Status)), lettered, tagMessage, out var detail), detail));
            }
        }
        return rows;
    }

    /// <summary>
    /// A letter in the queue for this (cluster, model, version) written after the version was created: a letter written
    /// before is about an earlier version of that name (the model deleted and registered again, another registry such as
    /// restarted emulators on the same broker), and says nothing about this one.
    /// </summary>
    private static bool LetterOfThisVersion(IReadOnlyDictionary<(string, string, string), DateTimeOffset> letters, string cluster, ModelVersion version) =>
        letters.TryGetValue((cluster, version.Name, version.Version), out var lastFailure)
        && (version.CreationTimestamp is not { } created || lastFailure >= DateTimeOffset.FromUnixTimeMilliseconds(created));

    private static string Row(ModelOutcome outcome, ServeInstance? current, string? tagStatus, bool lettered, string tagMessage, out string detail)
    {
        detail = string.Join("; ", outcome.Problems);
        switch (outcome.Kind)
        {
            case ModelOutcomeKind.Pending:
                return ModelStatus.Pending;
            case ModelOutcomeKind.Invalid:
                return lettered ? ModelStatus.DeadLettered : ModelStatus.Failed;
        }
        var app = current?.Applications.Values.FirstOrDefault(a => a.ManagedModel == outcome.RegisteredModel && a.ManagedVersion == outcome.Version);
        if (lettered)
        {
            detail = tagMessage;
            return ModelStatus.DeadLettered;
        }
        switch (app?.Status)
        {
            case AppStatus.Running when tagStatus == DeployStatus.RollingOut:
                detail = tagMessage; // the weight it has, and when the next step is
                return ModelStatus.RollingOut;
            case AppStatus.Running:
                detail = "";
                return ModelStatus.Running;
            case AppStatus.DeployFailed or AppStatus.Unhealthy:
                detail = RayMessage.Summarize(app.FailureMessage, 300);
                return ModelStatus.Failed;
            case not null:
                detail = RayMessage.Summarize(app.FailureMessage, 300);
                return ModelStatus.Deploying;
        }
        (var status, detail) = tagStatus switch
        {
            // The worker's tag values are these same strings (DeployStatus in the pipeline).
            ModelStatus.Failed => (ModelStatus.Failed, tagMessage),
            ModelStatus.Deploying => (ModelStatus.Deploying, tagMessage),
            _ => (ModelStatus.NotDeployed, current is null ? "the cluster could not be read" : "not on the cluster (mlray deploy, or a running worker, puts it there)"),
        };
        return status;
    }
}
