using MLRay.Registry;

namespace MLRay.Deploy;

/// <summary>
/// The registry as one reconcile read it: every selected model's candidate, and every version of those models
/// that the read saw (with its tags), so status tags can be written without reading the versions again.
/// </summary>
public sealed record RegistrySnapshot(IReadOnlyList<ModelCandidate> Models, IReadOnlyDictionary<(string Name, string Version), ModelVersion> Versions)
{
    public static readonly RegistrySnapshot Empty = new([], new Dictionary<(string, string), ModelVersion>());

    /// <summary>The registered models as the read saw them (tags, aliases), by name.</summary>
    public IReadOnlyDictionary<string, RegisteredModel> RegisteredModels { get; init; } = new Dictionary<string, RegisteredModel>();

    // Indexed once per snapshot: the worker asks these per model and per tag, over thousands of versions.
    private ILookup<string, ModelVersion>? _byModel;
    private Dictionary<(string, string), IReadOnlyDictionary<string, string>>? _tags;

    /// <summary>Every version the read saw of one registered model.</summary>
    public IEnumerable<ModelVersion> VersionsOf(string name) =>
        (_byModel ??= Versions.Values.ToLookup(v => v.Name, StringComparer.Ordinal))[name];

    /// <summary>The tags the read saw on one version, or null when this read did not see that version.</summary>
    public IReadOnlyDictionary<string, string>? TagsOf(string name, string version) =>
        (_tags ??= Versions.ToDictionary(kv => kv.Key, kv => kv.Value.TagMap)).GetValueOrDefault((name, version));
}

/// <summary>Pure: which version of a registered model is to be served, by the same rule everywhere (CLI, router, worker).</summary>
public static class VersionSelection
{
    /// <summary>
    /// The latest READY version, or with <paramref name="alias"/> the version the registered model's alias points to
    /// (if READY). <paramref name="versions"/> are the model's versions as a search returns them (status and tags;
    /// aliases come with the registered model). Null when nothing is to be served, with the reason.
    /// </summary>
    public static (ModelVersion? Version, string? Reason) Choose(RegisteredModel model, IEnumerable<ModelVersion> versions, string? alias)
    {
        if (alias is null)
        {
            var latest = versions.Where(v => v.IsReady).MaxBy(v => v.Number);
            return latest is null ? (null, "no READY version") : (latest, null);
        }
        var target = model.Aliases?.FirstOrDefault(a => a.Alias == alias)?.Version;
        if (target is null) return (null, $"alias '{alias}' is not set");
        var aliased = versions.FirstOrDefault(v => v.Version == target);
        if (aliased is null) return (null, $"alias '{alias}' points to version {target}, which does not exist");
        return aliased.IsReady ? (aliased, null) : (null, $"alias '{alias}' points to version {target}, which is {aliased.Status}");
    }
}
