using MLRay.Serve;

namespace MLRay.Deploy;

public enum ModelOutcomeKind
{
    /// <summary>Valid and meant for this cluster: it gets an application.</summary>
    Selected,
    /// <summary>Its Python does not match this cluster.</summary>
    OtherCluster,
    /// <summary>Tag <c>ray.enabled=false</c>.</summary>
    Disabled,
    /// <summary>No READY version, the alias is unset, or the model is gone.</summary>
    NothingToServe,
    /// <summary>Broken tags or environment: reported, left out, and its running app (if any) is kept.</summary>
    Invalid,
    /// <summary>No <c>ray.*</c> tags yet (<see cref="TagParseResult.Untagged"/>): waited for, never dead-lettered; a running app is kept.</summary>
    Pending,
}

/// <summary>What became of one registered model for one cluster, and why.</summary>
public sealed record ModelOutcome(
    string RegisteredModel,
    string? Version,
    ModelOutcomeKind Kind,
    string? AppName,
    string? Python,
    IReadOnlyList<string> Problems);

/// <summary>The apps MLRay wants on one cluster, and the account of every selected model.</summary>
/// <summary>A challenger version deployed beside its model's served version (gateway clusters): its outcome and its app.</summary>
public sealed record ChallengerApp(ModelOutcome Outcome, JsonObject App, int Weight, double Shadow);

public sealed record DesiredState(RayClusterConfig Cluster, IReadOnlyList<ModelOutcome> Models, IReadOnlyList<JsonObject> Applications)
{
    /// <summary>Challengers of selected models (<c>mlflow.challenger_alias</c>), on gateway clusters only.</summary>
    public IReadOnlyList<ChallengerApp> Challengers { get; init; } = [];

    /// <summary>Models whose current app must be left as it is because their new state could not be computed.</summary>
    public IReadOnlySet<string> KeepAsIs => Models.Where(m => m.Kind is ModelOutcomeKind.Invalid or ModelOutcomeKind.Pending)
        .Select(m => m.RegisteredModel).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Pure: registry candidates → the desired apps for <paramref name="cluster"/>. The Python version is checked
    /// first, so a model meant for another cluster never reports its tag problems here. App names and routes must
    /// be unique on the cluster, including against apps MLRay does not manage (<paramref name="foreignApps"/>).
    /// </summary>
    /// <summary>Why a <see cref="ModelOutcomeKind.Pending"/> model has no app yet (its status message, and the CLI's).</summary>
    public const string PendingMessage = "waiting for ray.* tags on the registered model";

    public static DesiredState For(RayClusterConfig cluster, IEnumerable<ModelCandidate> candidates, ServeInstance? current = null)
    {
        var outcomes = new List<ModelOutcome>();
        var apps = new List<JsonObject>();
        var challengers = new List<ChallengerApp>();
        var foreign = current?.Applications.Values.Where(a => !a.IsMLRays).ToList() ?? [];
        var usedNames = foreign.ToDictionary(a => a.Name, _ => "an application MLRay does not manage", StringComparer.Ordinal);
        var usedRoutes = foreign.Where(a => a.RoutePrefix is not null)
            .ToDictionary(a => a.RoutePrefix!, a => $"application '{a.Name}', which MLRay does not manage", StringComparer.Ordinal);

        foreach (var c in candidates.OrderBy(c => c.RegisteredModel, StringComparer.Ordinal))
        {
            var version = c.Version?.Version;
            var python = c.Environment?.Python;
            if (c.NothingToServe)
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.NothingToServe, null, null, [c.Problem ?? "nothing to serve"]));
                continue;
            }
            if (c.Tags is { Disabled: true })
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.Disabled, null, python?.ToString(), ["ray.enabled is false"]));
                continue;
            }
            if (c.Problem is not null || python is null)
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.Invalid, null, null, [c.Problem ?? "no environment"]));
                continue;
            }
            if (!cluster.PythonVersion.Accepts(python))
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.OtherCluster, null, python.ToString(),
                    [$"Python {python}; this cluster serves {cluster.PythonVersion}"]));
                continue;
            }
            if (c.Tags is { Untagged: true })
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.Pending, null, python.ToString(), [PendingMessage]));
                continue;
            }
            if (c.Tags is not { Spec: { } spec })
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.Invalid, null, python.ToString(),
                    c.Tags?.Errors.Select(e => e.ToString()).ToList() ?? ["tags could not be read"]));
                continue;
            }
            var conflict = usedNames.TryGetValue(spec.Name, out var byName) ? $"ray.name '{spec.Name}' is already used by {byName}"
                : usedRoutes.TryGetValue(spec.RoutePrefix, out var byRoute) ? $"route '{spec.RoutePrefix}' is already used by {byRoute}"
                : null;
            if (conflict is not null)
            {
                outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.Invalid, spec.Name, python.ToString(), [conflict]));
                continue;
            }
            usedNames[spec.Name] = $"model '{c.RegisteredModel}'";
            usedRoutes[spec.RoutePrefix] = $"model '{c.RegisteredModel}'";
            var deployment = new ModelDeployment(c.RegisteredModel, version!, spec, c.Environment!);
            apps.Add(ServeConfigPlanner.BuildApplication(deployment, cluster));
            outcomes.Add(new ModelOutcome(c.RegisteredModel, version, ModelOutcomeKind.Selected, spec.Name, python.ToString(), []));
            if (cluster.Serving.Traffic == TrafficMode.Gateway && Challenger(cluster, c, spec) is { } challenger) challengers.Add(challenger);
        }
        return new DesiredState(cluster, outcomes, apps) { Challengers = challengers };
    }

    /// <summary>
    /// The challenger as a version app beside the served one: under the served version's app name and route (so it shares
    /// the route in the gateway), with its own environment and replicas; left out when its own tags or Python do not fit.
    /// </summary>
    private static ChallengerApp? Challenger(RayClusterConfig cluster, ModelCandidate served, DeploymentSpec servedSpec)
    {
        if (served.Challenger is not { Version: { } version, Environment: { } environment, Tags.Spec: { } spec, Problem: null }
            || !cluster.PythonVersion.Accepts(environment.Python)) return null;
        var deployment = new ModelDeployment(served.RegisteredModel, version.Version, spec with { Name = servedSpec.Name, RoutePrefix = servedSpec.RoutePrefix }, environment);
        return new ChallengerApp(new ModelOutcome(served.RegisteredModel, version.Version, ModelOutcomeKind.Selected, servedSpec.Name, environment.Python.ToString(), []),
            ServeConfigPlanner.BuildApplication(deployment, cluster), spec.ChallengerWeight ?? servedSpec.ChallengerWeight ?? 0, spec.ChallengerShadow ?? servedSpec.ChallengerShadow ?? 0);
    }
}
