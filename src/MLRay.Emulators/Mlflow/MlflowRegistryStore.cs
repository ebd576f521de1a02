using System.Globalization;
using System.Text.RegularExpressions;

namespace MLRay.Emulators.Mlflow;

/// <summary>
/// The emulated tracking server's state — registered models and their versions, runs, logged models, artifact files
/// and webhooks — and every change to it, apart from HTTP (as <see cref="Ray.RayClusterStore"/> is for Ray). The REST
/// handlers and the seeding API of <see cref="MlflowEmulator"/> call the same methods here. Thread-safe: each method
/// holds the store's private lock for what it does and hands out immutable views (MlflowRegistryViews.cs). A change
/// that fires webhook events collects them, with the webhooks subscribed at that moment, under the lock and hands
/// them to the delivery callback only after releasing it (<see cref="Change{T}"/>).
/// </summary>
internal sealed partial class MlflowRegistryStore
{
    private readonly object _lock = new();
    private readonly Action<IReadOnlyList<PendingDelivery>> _deliver;
    private readonly Dictionary<string, RegisteredModel> _models = new(StringComparer.Ordinal);
    private long _lastTimestamp;

    /// <param name="deliver">Starts the deliveries of the events a change fired; never called under the store's lock.</param>
    public MlflowRegistryStore(Action<IReadOnlyList<PendingDelivery>> deliver) => _deliver = deliver;

    // ------------------------------------------------------------------ locking and events

    /// <summary>
    /// Runs <paramref name="change"/> under the lock, collecting the events it fires, then delivers them after the lock
    /// is released: a webhook receiver that calls back into the emulator while handling one must never wait for the
    /// change that fired it. A change that throws fires nothing.
    /// </summary>
    private T Change<T>(Func<List<RegistryEvent>, T> change)
    {
        var events = new List<RegistryEvent>();
        T result;
        List<PendingDelivery> deliveries;
        lock (_lock)
        {
            result = change(events);
            deliveries = SubscribersOf(events);
        }
        if (deliveries.Count > 0)
        {
            // The rule above, checked: a caller that already held the lock would deliver under it.
            if (Monitor.IsEntered(_lock)) throw new InvalidOperationException("Webhook events are delivered only after the registry's lock is released.");
            _deliver(deliveries);
        }
        return result;
    }

    private void Change(Action<List<RegistryEvent>> change) => Change(events =>
    {
        change(events);
        return 0;
    });

    /// <summary>Milliseconds since the epoch, strictly increasing (MLflow's timestamps never tie here).</summary>
    private long Now()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (now <= _lastTimestamp) now = _lastTimestamp + 1;
        _lastTimestamp = now;
        return now;
    }

    // ------------------------------------------------------------------ registered models

    /// <summary>Creates a registered model (fires <c>registered_model.created</c>); 400 RESOURCE_ALREADY_EXISTS if it exists.</summary>
    public RegisteredModelView CreateRegisteredModel(string name, IReadOnlyDictionary<string, string>? tags, string? description) =>
        Change(events =>
        {
            if (_models.ContainsKey(name))
                throw new MlflowError(400, "RESOURCE_ALREADY_EXISTS", $"Registered Model (name={name}) already exists.");
            return ViewOf(AddModel(name, tags, description, events));
        });

    public RegisteredModelView GetRegisteredModel(string name)
    {
        lock (_lock) return ViewOf(ModelOrThrow(name));
    }

    /// <summary>Sets the description when given; either way the model counts as updated.</summary>
    public RegisteredModelView UpdateRegisteredModel(string name, string? description)
    {
        lock (_lock)
        {
            var rm = ModelOrThrow(name);
            if (description is not null) rm.Description = description;
            rm.LastUpdatedTimestamp = Now();
            return ViewOf(rm);
        }
    }

    public void DeleteRegisteredModel(string name)
    {
        lock (_lock)
        {
            ModelOrThrow(name);
            _models.Remove(name);
        }
    }

    public void SetRegisteredModelTag(string name, string key, string value)
    {
        lock (_lock)
        {
            var rm = ModelOrThrow(name);
            rm.Tags.Set(key, value);
            rm.LastUpdatedTimestamp = Now();
        }
    }

    public void DeleteRegisteredModelTag(string name, string key)
    {
        lock (_lock)
        {
            var rm = ModelOrThrow(name);
            if (rm.Tags.Remove(key)) rm.LastUpdatedTimestamp = Now();
        }
    }

    /// <summary>The newest READY version of each stage (of <paramref name="stages"/> when any are given).</summary>
    public IReadOnlyList<ModelVersionView> GetLatestVersions(string name, IReadOnlyCollection<string> stages)
    {
        lock (_lock)
        {
            var rm = ModelOrThrow(name);
            return LatestPerStage(rm, stages).Where(v => v.Status == "READY").Select(mv => ViewOf(rm, mv)).ToList();
        }
    }

    /// <summary>Registered models (prompts excluded) matching the filter, sorted, one page.</summary>
    public RegistryPage<RegisteredModelView> SearchRegisteredModels(SearchFilter filter, IReadOnlyList<(string Key, bool Asc)> orderBy, int offset, int maxResults)
    {
        lock (_lock)
        {
            var matches = Candidates(filter)
                .Where(rm => !IsPrompt(rm))
                .Where(rm => filter.Matches(attr => attr == "name" ? rm.Name : null, rm.Tags.Get));
            var sorted = Sort(matches, orderBy, (rm, key) => key switch
            {
                "name" => rm.Name,
                "creation_timestamp" => rm.CreationTimestamp,
                _ => (IComparable)rm.LastUpdatedTimestamp,
            }, rm => rm.Name, null);
            return PageOf(sorted, offset, maxResults, ViewOf);
        }
    }

    // ------------------------------------------------------------------ model versions

    /// <summary>
    /// Creates the next version of <paramref name="name"/> (fires <c>model_version.created</c>). A missing registered
    /// model is a 404, or is created first (firing <c>registered_model.created</c>) with <paramref name="createModelIfMissing"/>.
    /// For a <c>models:/m-…</c> source the storage location defaults to the logged model's artifact URI.
    /// </summary>
    public ModelVersionView CreateModelVersion(string name, string source, string? runId, IReadOnlyDictionary<string, string>? tags,
        string? description, string status = "READY", string? storageLocation = null, bool createModelIfMissing = false) =>
        Change(events =>
        {
            var rm = createModelIfMissing && !_models.ContainsKey(name) ? AddModel(name, null, null, events) : ModelOrThrow(name);
            string? modelId = null;
            var m = LoggedModelSource().Match(source);
            if (m.Success)
            {
                modelId = m.Groups[1].Value;
                if (storageLocation is null && _loggedModels.TryGetValue(modelId, out var loc)) storageLocation = loc;
            }
            var now = Now();
            var mv = new ModelVersion
            {
                Name = rm.Name,
                Version = ++rm.LastVersion,
                CreationTimestamp = now,
                LastUpdatedTimestamp = now,
                Source = source,
                RunId = string.IsNullOrEmpty(runId) ? null : runId,
                Status = status,
                StorageLocation = storageLocation,
                ModelId = modelId,
                Description = description,
            };
            if (tags is not null)
                foreach (var kv in tags) mv.Tags.Set(kv.Key, kv.Value);
            rm.Versions[mv.Version] = mv;
            rm.LastUpdatedTimestamp = now;
            var version = mv.Version.ToString(CultureInfo.InvariantCulture);
            events.Add(new ModelVersionCreated(name, version, source, mv.RunId, mv.Tags.ToArray(), description));
            return ViewOf(rm, mv);
        });

    public ModelVersionView GetModelVersion(string name, string version)
    {
        lock (_lock)
        {
            var mv = VersionOrThrow(name, version);
            return ViewOf(_models[name], mv);
        }
    }

    /// <summary>Sets the description when given; either way the version counts as updated.</summary>
    public ModelVersionView UpdateModelVersion(string name, string version, string? description)
    {
        lock (_lock)
        {
            var mv = VersionOrThrow(name, version);
            if (description is not null) mv.Description = description;
            mv.LastUpdatedTimestamp = Now();
            return ViewOf(_models[name], mv);
        }
    }

    /// <summary>Deletes a version and every alias pointing at it (MLflow ≥ 2.4; no event, as in MLflow).</summary>
    public void DeleteModelVersion(string name, string version)
    {
        lock (_lock)
        {
            var rm = ModelOrThrow(name);
            var mv = VersionOrThrow(name, version);
            rm.Versions.Remove(mv.Version);
            rm.Aliases.RemoveAll(kv => kv.Value == mv.Version);
            rm.LastUpdatedTimestamp = Now();
        }
    }

    /// <summary>Sets a version tag (fires <c>model_version_tag.set</c>).</summary>
    public void SetModelVersionTag(string name, string version, string key, string value) => Change(events =>
    {
        var mv = VersionOrThrow(name, version);
        mv.Tags.Set(key, value);
        mv.LastUpdatedTimestamp = Now();
        events.Add(new ModelVersionTagSet(name, version, key, value));
    });

    /// <summary>Deletes a version tag (fires <c>model_version_tag.deleted</c>, also for a tag that was not there).</summary>
    public void DeleteModelVersionTag(string name, string version, string key) => Change(events =>
    {
        var mv = VersionOrThrow(name, version);
        if (mv.Tags.Remove(key)) mv.LastUpdatedTimestamp = Now();
        events.Add(new ModelVersionTagDeleted(name, version, key));
    });

    /// <summary>Versions (prompts excluded) matching the filter, sorted (newest update first by default), one page.</summary>
    public RegistryPage<ModelVersionView> SearchModelVersions(SearchFilter filter, IReadOnlyList<(string Key, bool Asc)> orderBy, int offset, int maxResults)
    {
        if (orderBy.Count == 0) orderBy = [("last_updated_timestamp", false), ("name", true), ("version_number", false)];
        lock (_lock)
        {
            var matches = Candidates(filter)
                .Where(rm => !IsPrompt(rm))
                .SelectMany(rm => rm.Versions.Values.Select(mv => (rm, mv)))
                .Where(x => filter.Matches(attr => attr switch
                {
                    "name" => x.mv.Name,
                    "run_id" => x.mv.RunId,
                    "source_path" => x.mv.Source,
                    "version_number" => x.mv.Version.ToString(CultureInfo.InvariantCulture),
                    _ => null,
                }, x.mv.Tags.Get));
            var sorted = Sort(matches, orderBy, (x, key) => key switch
            {
                "name" => x.mv.Name,
                "version_number" => x.mv.Version,
                "creation_timestamp" => x.mv.CreationTimestamp,
                "run_id" => x.mv.RunId ?? "",
                "source_path" => x.mv.Source,
                _ => (IComparable)x.mv.LastUpdatedTimestamp,
            }, x => x.mv.Name, x => x.mv.Version);
            return PageOf(sorted, offset, maxResults, x => ViewOf(x.rm, x.mv));
        }
    }

    // ------------------------------------------------------------------ aliases

    /// <summary>The version an alias points at; 400 when the model has no such alias (MLflow's answer).</summary>
    public ModelVersionView GetModelVersionByAlias(string name, string alias)
    {
        lock (_lock)
        {
            var rm = ModelOrThrow(name);
            var version = rm.ResolveAlias(alias)
                ?? throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Registered model alias {alias} not found.");
            return ViewOf(rm, rm.Versions[version]);
        }
    }

    /// <summary>Points (or moves) an alias at a version (fires <c>model_version_alias.created</c>).</summary>
    public void SetAlias(string name, string alias, string version) => Change(events =>
    {
        var rm = ModelOrThrow(name);
        var mv = VersionOrThrow(name, version);
        rm.SetAlias(alias, mv.Version);
        rm.LastUpdatedTimestamp = Now();
        events.Add(new ModelVersionAliasCreated(name, alias, version));
    });

    /// <summary>Deletes an alias (fires <c>model_version_alias.deleted</c>, also for an alias that was not there).</summary>
    public void DeleteAlias(string name, string alias) => Change(events =>
    {
        var rm = ModelOrThrow(name);
        if (rm.RemoveAlias(alias)) rm.LastUpdatedTimestamp = Now();
        events.Add(new ModelVersionAliasDeleted(name, alias));
    });

    // ------------------------------------------------------------------ helpers (under the lock)

    private RegisteredModel AddModel(string name, IReadOnlyDictionary<string, string>? tags, string? description, List<RegistryEvent> events)
    {
        var now = Now();
        var rm = new RegisteredModel { Name = name, CreationTimestamp = now, LastUpdatedTimestamp = now, Description = description };
        if (tags is not null)
            foreach (var kv in tags) rm.Tags.Set(kv.Key, kv.Value);
        _models[name] = rm;
        events.Add(new RegisteredModelCreated(name, rm.Tags.ToArray(), description));
        return rm;
    }

    /// <summary>The model, or MLflow's 404.</summary>
    private RegisteredModel ModelOrThrow(string name) =>
        _models.TryGetValue(name, out var rm) ? rm : throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Registered Model with name={name} not found");

    /// <summary>The version, or MLflow's 404 (400 for a version that is not a number).</summary>
    private ModelVersion VersionOrThrow(string name, string version)
    {
        var rm = ModelOrThrow(name);
        if (!int.TryParse(version, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Parameter 'version' must be an integer, got '{version}'.");
        return rm.Versions.TryGetValue(number, out var mv)
            ? mv
            : throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Model Version (name={name}, version={version}) not found");
    }

    /// <summary>The models a search has to look at: the named ones when the filter names them exactly, else all.</summary>
    private IEnumerable<RegisteredModel> Candidates(SearchFilter filter) =>
        filter.ExactNames() is { } names
            ? names.Distinct(StringComparer.Ordinal).Select(n => _models.GetValueOrDefault(n)).OfType<RegisteredModel>()
            : _models.Values;

    private static bool IsPrompt(RegisteredModel rm) =>
        rm.Tags.Get("mlflow.prompt.is_prompt") is { } v && v.Equals("true", StringComparison.OrdinalIgnoreCase);

    private static List<ModelVersion> LatestPerStage(RegisteredModel rm, IReadOnlyCollection<string>? stages)
    {
        var result = new List<ModelVersion>();
        foreach (var group in rm.Versions.Values.GroupBy(v => v.CurrentStage))
        {
            if (stages is { Count: > 0 } && !stages.Contains(group.Key, StringComparer.OrdinalIgnoreCase)) continue;
            result.Add(group.MaxBy(v => v.Version)!);
        }
        return result.OrderBy(v => v.Version).ToList();
    }

    /// <summary>Sorts by the order-by columns, then by name ascending and version descending (MLflow's tie-breaks).</summary>
    private static List<T> Sort<T>(IEnumerable<T> items, IReadOnlyList<(string Key, bool Asc)> orderBy,
        Func<T, string, IComparable> value, Func<T, string> name, Func<T, int>? version)
    {
        var list = items.ToList();
        list.Sort((a, b) =>
        {
            foreach (var (key, asc) in orderBy)
            {
                var va = value(a, key);
                var vb = value(b, key);
                var c = va is string sa && vb is string sb ? string.CompareOrdinal(sa, sb) : va.CompareTo(vb);
                if (c != 0) return asc ? c : -c;
            }
            var n = string.CompareOrdinal(name(a), name(b));
            if (n != 0) return n;
            return version is null ? 0 : version(b).CompareTo(version(a));
        });
        return list;
    }

    private static RegistryPage<TView> PageOf<T, TView>(List<T> sorted, int offset, int maxResults, Func<T, TView> view) =>
        new(sorted.Skip(offset).Take(maxResults).Select(view).ToList(), offset + maxResults < sorted.Count ? offset + maxResults : null);

    private static RegisteredModelView ViewOf(RegisteredModel rm) => new(
        rm.Name, rm.CreationTimestamp, rm.LastUpdatedTimestamp, rm.Description,
        LatestPerStage(rm, null).Select(mv => ViewOf(rm, mv)).ToList(), rm.Tags.ToArray(), rm.Aliases.ToArray());

    private static ModelVersionView ViewOf(RegisteredModel rm, ModelVersion mv) => new(
        mv.Name, mv.Version, mv.CreationTimestamp, mv.LastUpdatedTimestamp, mv.CurrentStage, mv.Description, mv.Source, mv.RunId,
        mv.Status, mv.StatusMessage, mv.Tags.ToArray(), rm.Aliases.Where(kv => kv.Value == mv.Version).Select(kv => kv.Key).ToList(),
        mv.StorageLocation, mv.ModelId);

    [GeneratedRegex("^models:/(m-[0-9a-fA-F]{32})/?$")]
    private static partial Regex LoggedModelSource();
}
