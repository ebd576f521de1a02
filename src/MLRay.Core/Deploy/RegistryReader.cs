using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
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
    /// <summary>The version <c>mlflow.challenger_alias</c> points to, when set, READY and not the served version.</summary>
    public ModelCandidate? Challenger { get; init; }
}

/// <summary>
/// Reads the registry for MLRay: which models are selected, which version of each (latest READY, or the configured
/// alias), their effective tags and their environment. The whole registry costs one paged <c>registered-models/search</c>
/// and one paged <c>model-versions/search</c> (contracts/mlflow.md §2.7); one model costs a <c>registered-models/get</c>
/// and a <c>model-versions/search name = …</c>. Environments come from <see cref="ModelEnvironmentCache"/>.
/// </summary>
public sealed class RegistryReader(MlflowClient mlflow, ModelEnvironmentCache environments, MlflowSettings settings, ILogger? log = null)
{
    private readonly ILogger _log = log ?? NullLogger.Instance;
    private volatile bool _versionLikeRefused;

    /// <summary>Every selected model (prompts skipped), with the versions the read saw.</summary>
    public async Task<RegistrySnapshot> ReadSnapshotAsync(CancellationToken ct = default)
    {
        var (models, versions) = await ReadVersionsAsync(ct);
        var byModel = versions.ToLookup(v => v.Name, StringComparer.Ordinal);
        var candidates = new ModelCandidate[models.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, models.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ModelEnvironmentCache.MaxParallelReads, CancellationToken = ct },
            async (i, token) => candidates[i] = await CandidateAsync(models[i], byModel[models[i].Name], token));
        return new RegistrySnapshot(
            candidates.OrderBy(c => c.RegisteredModel, StringComparer.Ordinal).ToList(),
            versions.GroupBy(v => (v.Name, v.Version)).ToDictionary(g => g.Key, g => g.First()))
        {
            RegisteredModels = models.ToDictionary(m => m.Name, StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// The selected registered models (prompts skipped) and every version of them with its status and tags, without
    /// reading any environment: what MLRay's tags say, for <c>mlray rollout</c> as for a snapshot.
    /// </summary>
    public async Task<(IReadOnlyList<RegisteredModel> Models, IReadOnlyList<ModelVersion> Versions)> ReadVersionsAsync(CancellationToken ct = default)
    {
        var modelsTask = mlflow.SearchRegisteredModelsBySuffixAsync(settings.ModelNameSuffix, ct);
        var versionsTask = _versionLikeRefused ? null : mlflow.SearchModelVersionsBySuffixAsync(settings.ModelNameSuffix, ct);
        var models = (await modelsTask).Where(m => !m.IsPrompt).ToList();
        try
        {
            return (models, versionsTask is null ? await ReadVersionsPerModelAsync(models, ct) : await versionsTask);
        }
        catch (MlflowException e) when (e is { Status: 400, ErrorCode: "INVALID_PARAMETER_VALUE" })
        {
            // Older or non-SQL stores accept only `name = '…'` on versions: one search per model from now on (a server
            // does not learn LIKE while this process runs; a restart asks again).
            _versionLikeRefused = true;
            _log.LogWarning("MLflow refused model-versions/search with name LIKE ({Error}); reading each model's versions with name = '…' from now on ({Count} model(s))",
                e.MlflowMessage, models.Count);
            return (models, await ReadVersionsPerModelAsync(models, ct));
        }
    }

    private async Task<IReadOnlyList<ModelVersion>> ReadVersionsPerModelAsync(IReadOnlyList<RegisteredModel> models, CancellationToken ct)
    {
        var perModel = new IReadOnlyList<ModelVersion>[models.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, models.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ModelEnvironmentCache.MaxParallelReads, CancellationToken = ct },
            async (i, token) => perModel[i] = await mlflow.SearchModelVersionsAsync(models[i].Name, token));
        return perModel.SelectMany(v => v).ToList();
    }

    /// <summary>Reads one registered model by name (the router's question); a model that no longer exists has nothing to serve.</summary>
    public async Task<ModelCandidate> ReadAsync(string name, CancellationToken ct = default)
    {
        try
        {
            var model = mlflow.GetRegisteredModelAsync(name, ct);
            var versions = mlflow.SearchModelVersionsAsync(name, ct);
            await Task.WhenAll(model, versions); // both observed, whichever fails
            return await CandidateAsync(model.Result, versions.Result, ct);
        }
        catch (MlflowException e) when (e.IsNotFound)
        {
            return new ModelCandidate { RegisteredModel = name, Problem = "registered model does not exist", NothingToServe = true };
        }
    }

    private async Task<ModelCandidate> CandidateAsync(RegisteredModel model, IEnumerable<ModelVersion> versions, CancellationToken ct)
    {
        var all = versions as IReadOnlyCollection<ModelVersion> ?? versions.ToList();
        var (version, reason) = VersionSelection.Choose(model, all, settings.Alias);
        if (version is null) return new ModelCandidate { RegisteredModel = model.Name, NothingToServe = true, Problem = reason };
        var candidate = await CandidateAsync(model, version, ct);
        return settings.ChallengerAlias is { } challengerAlias && VersionSelection.Choose(model, all, challengerAlias).Version is { } challenger
               && challenger.Version != version.Version
            ? candidate with { Challenger = await CandidateAsync(model, challenger, ct) }
            : candidate;
    }

    /// <summary>One given version of a model as a candidate (a rollback target), its files from the cache.</summary>
    public async Task<ModelCandidate> CandidateAsync(RegisteredModel model, ModelVersion version, CancellationToken ct = default)
    {
        var name = model.Name;
        var tags = DeploymentTags.Parse(DeploymentTags.Effective(model.TagMap, version.TagMap));
        try
        {
            var environment = ModelEnvironmentReader.Read(await environments.GetAsync(version, ct));
            return new ModelCandidate { RegisteredModel = name, Version = version, Tags = tags, Environment = environment };
        }
        catch (MlflowException e) when (e.IsNotFound)
        {
            return new ModelCandidate { RegisteredModel = name, Problem = "model version was deleted while it was read", NothingToServe = true };
        }
        catch (Exception e) when (e is ModelEnvironmentException or UnsupportedArtifactSchemeException
                                      || e is MlflowException { IsTransient: false })
        {
            return new ModelCandidate
            {
                RegisteredModel = name, Version = version, Tags = tags,
                Problem = $"model '{name}' version {version.Version}: {e.Message}",
            };
        }
    }
}
