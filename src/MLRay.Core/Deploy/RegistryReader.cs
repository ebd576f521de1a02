using System.Collections.Concurrent;
using MLRay.Registry;

namespace MLRay.Deploy;

/// <summary>One selected registered model as the registry describes it now: version, tags and environment, or why not.</summary>
public sealed record ModelCandidate
{
    public required string RegisteredModel { get; init; }
    public ModelVersion? Version { get; init; }
    public TagParseResult? Tags { get; init; }
    public ModelEnvironment? Environment { get; init; }
    /// <summary>Why this model cannot be considered at all (no eligible version, unreadable environment…).</summary>
    public string? Problem { get; init; }
    /// <summary>True when the problem is that nothing is to be served (no version / alias) rather than an error.</summary>
    public bool NothingToServe { get; init; }
}

/// <summary>
/// Reads the registry for MLRay: which models are selected, which version of each (latest READY, or the configured
/// alias), their effective tags and their environment. Environments are cached per name+version: a model
/// version's artifacts never change.
/// </summary>
public sealed class RegistryReader(MlflowClient mlflow, ArtifactReader artifacts, MlflowSettings settings)
{
    private readonly ConcurrentDictionary<(string, string), Task<ModelEnvironment>> _environments = new();

    public async Task<IReadOnlyList<ModelCandidate>> ReadSelectedAsync(CancellationToken ct = default)
    {
        var models = await mlflow.SearchRegisteredModelsBySuffixAsync(settings.ModelNameSuffix, ct);
        var results = new ModelCandidate[models.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, models.Count),
            new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
            async (i, token) => results[i] = await ReadAsync(models[i], token));
        return results.Where(r => r is not null).OrderBy(r => r.RegisteredModel, StringComparer.Ordinal).ToList();
    }

    /// <summary>Reads one registered model by name; a model that no longer exists has nothing to serve.</summary>
    public async Task<ModelCandidate> ReadAsync(string name, CancellationToken ct = default)
    {
        try
        {
            return await ReadAsync(await mlflow.GetRegisteredModelAsync(name, ct), ct);
        }
        catch (MlflowException e) when (e.IsNotFound)
        {
            return Gone(name);
        }
    }

    private static ModelCandidate Gone(string name) =>
        new() { RegisteredModel = name, Problem = "registered model does not exist", NothingToServe = true };

    public async Task<ModelCandidate> ReadAsync(RegisteredModel model, CancellationToken ct = default)
    {
        var name = model.Name;
        ModelVersion? version;
        try
        {
            version = await SelectVersionAsync(name, ct);
        }
        catch (MlflowException e) when (e.IsNotFound)
        {
            return Gone(name); // deleted between the search and this read
        }
        if (version is null)
            return new ModelCandidate
            {
                RegisteredModel = name,
                NothingToServe = true,
                Problem = settings.Alias is { } alias ? $"alias '{alias}' is not set" : "no READY version",
            };

        var tags = DeploymentTags.Parse(DeploymentTags.Effective(model.TagMap, version.TagMap));
        try
        {
            var environment = await _environments.GetOrAdd((name, version.Version), key => LoadEnvironmentAsync(key.Item1, key.Item2, ct));
            return new ModelCandidate { RegisteredModel = name, Version = version, Tags = tags, Environment = environment };
        }
        catch (Exception e) when (e is ModelEnvironmentException or UnsupportedArtifactSchemeException
                                      || e is MlflowException { IsTransient: false })
        {
            _environments.TryRemove((name, version.Version), out _);
            return new ModelCandidate
            {
                RegisteredModel = name, Version = version, Tags = tags,
                Problem = $"model '{name}' version {version.Version}: {e.Message}",
            };
        }
        catch
        {
            _environments.TryRemove((name, version.Version), out _); // transient: try again next time
            throw;
        }
    }

    private async Task<ModelVersion?> SelectVersionAsync(string name, CancellationToken ct)
    {
        if (settings.Alias is { } alias)
        {
            var aliased = await mlflow.GetModelVersionByAliasAsync(name, alias, ct);
            // The alias endpoint returns the full version (tags included); only a READY one can be served.
            return aliased is { IsReady: true } ? aliased : null;
        }
        var versions = await mlflow.SearchModelVersionsAsync(name, ct);
        var latest = versions.Where(v => v.IsReady).MaxBy(v => v.Number);
        // Search results may omit fields; the version's own record is authoritative for tags.
        return latest is null ? null : await mlflow.GetModelVersionAsync(name, latest.Version, ct);
    }

    private async Task<ModelEnvironment> LoadEnvironmentAsync(string name, string version, CancellationToken ct)
    {
        var location = await artifacts.ResolveModelVersionAsync(name, version, ct);
        var files = await artifacts.ReadEnvironmentFilesAsync(location, ct);
        return ModelEnvironmentReader.Read(files);
    }
}
