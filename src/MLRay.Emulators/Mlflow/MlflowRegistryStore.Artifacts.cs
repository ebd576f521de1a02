namespace MLRay.Emulators.Mlflow;

/// <summary>Runs, logged models and the artifact proxy's files (no webhook events are fired for these).</summary>
internal sealed partial class MlflowRegistryStore
{
    /// <summary>Run id → its artifact URI.</summary>
    private readonly Dictionary<string, string> _runs = new(StringComparer.Ordinal);
    /// <summary>Logged model id (<c>m-…</c>) → its artifact URI.</summary>
    private readonly Dictionary<string, string> _loggedModels = new(StringComparer.Ordinal);
    /// <summary>Artifact path (below <c>mlflow-artifacts:/</c>) → content, in path order for listings.</summary>
    private readonly SortedDictionary<string, byte[]> _artifacts = new(StringComparer.Ordinal);

    public void CreateRun(string runId, string artifactUri)
    {
        lock (_lock) _runs[runId] = artifactUri;
    }

    /// <summary>The run's artifact URI, or null when there is no such run.</summary>
    public string? RunArtifactUri(string runId)
    {
        lock (_lock) return _runs.GetValueOrDefault(runId);
    }

    public void CreateLoggedModel(string modelId, string artifactUri)
    {
        lock (_lock) _loggedModels[modelId] = artifactUri;
    }

    /// <summary>The logged model's artifact URI, or null when there is no such model.</summary>
    public string? LoggedModelArtifactUri(string modelId)
    {
        lock (_lock) return _loggedModels.GetValueOrDefault(modelId);
    }

    /// <summary>Stores (or replaces) one file; the store keeps <paramref name="content"/> as given.</summary>
    public void PutArtifact(string key, byte[] content)
    {
        lock (_lock) _artifacts[key] = content;
    }

    /// <summary>Deletes the file <paramref name="key"/>, or everything below it when it is a directory.</summary>
    public void DeleteArtifacts(string key)
    {
        lock (_lock)
        {
            foreach (var existing in _artifacts.Keys.Where(x => x == key || x.StartsWith(key + "/", StringComparison.Ordinal)).ToList())
                _artifacts.Remove(existing);
        }
    }

    /// <summary>The file's content, or null when there is none.</summary>
    public byte[]? GetArtifact(string key)
    {
        lock (_lock) return _artifacts.GetValueOrDefault(key);
    }

    /// <summary>The files and directories directly below <paramref name="dir"/>, by name.</summary>
    public IReadOnlyList<(string Name, bool IsDir, long Size)> ListArtifacts(string dir)
    {
        dir = dir.Trim('/');
        var prefix = dir.Length == 0 ? "" : dir + "/";
        var result = new SortedDictionary<string, (bool IsDir, long Size)>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var (key, content) in _artifacts)
            {
                if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
                var rest = key[prefix.Length..];
                var slash = rest.IndexOf('/');
                if (slash < 0) result[rest] = (false, content.LongLength);
                else result.TryAdd(rest[..slash], (true, 0));
            }
        }
        return result.Select(kv => (kv.Key, kv.Value.IsDir, kv.Value.Size)).ToList();
    }

    /// <summary>Turns an artifact location (mlflow-artifacts:, runs:/, models:/m-…) into a key of the artifact store.</summary>
    public string ResolveArtifactKey(string uri, int depth = 0)
    {
        if (depth > 4) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Cannot resolve artifact location '{uri}'.");
        var key = ArtifactKeyFromUri(uri);
        if (key is not null) return key;
        if (uri.StartsWith("runs:/", StringComparison.Ordinal))
        {
            var rest = uri["runs:/".Length..].Trim('/');
            var slash = rest.IndexOf('/');
            var runId = slash < 0 ? rest : rest[..slash];
            var sub = slash < 0 ? "" : rest[(slash + 1)..];
            var runUri = RunArtifactUri(runId) ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run with id={runId} not found");
            var baseKey = ResolveArtifactKey(runUri, depth + 1);
            return sub.Length == 0 ? baseKey : baseKey + "/" + sub;
        }
        if (uri.StartsWith("models:/m-", StringComparison.Ordinal))
        {
            var id = uri["models:/".Length..].Trim('/');
            var modelUri = LoggedModelArtifactUri(id) ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Logged model with ID '{id}' not found.");
            return ResolveArtifactKey(modelUri, depth + 1);
        }
        throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"The artifact location '{uri}' is not served by this tracking server.");
    }

    /// <summary>The store key of a <c>mlflow-artifacts:/path</c> or <c>mlflow-artifacts://host:port/path</c> URI; null for other schemes.</summary>
    public static string? ArtifactKeyFromUri(string uri)
    {
        const string scheme = "mlflow-artifacts:";
        if (!uri.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var rest = uri[scheme.Length..];
        if (rest.StartsWith("//", StringComparison.Ordinal))
        {
            var slash = rest.IndexOf('/', 2);
            rest = slash < 0 ? "" : rest[slash..];
        }
        return rest.Trim('/');
    }
}
