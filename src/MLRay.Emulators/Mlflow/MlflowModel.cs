namespace MLRay.Emulators.Mlflow;

// The registry's mutable entities. Only MlflowRegistryStore touches them, under its lock; handlers and the seeding API
// get the immutable views of MlflowRegistryViews.cs instead.

/// <summary>Ordered tag list (insertion order, set replaces in place).</summary>
internal sealed class TagList
{
    private readonly List<KeyValuePair<string, string>> _items = new();

    public void Set(string key, string value)
    {
        var i = _items.FindIndex(kv => kv.Key == key);
        if (i >= 0) _items[i] = new(key, value);
        else _items.Add(new(key, value));
    }

    public bool Remove(string key) => _items.RemoveAll(kv => kv.Key == key) > 0;

    public int Count => _items.Count;

    public IReadOnlyDictionary<string, string> ToDictionary() => _items.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    /// <summary>The tag's value, or null: what a search filter reads, without copying the list (registries of thousands).</summary>
    public string? Get(string key)
    {
        foreach (var kv in _items)
            if (kv.Key == key) return kv.Value;
        return null;
    }

    /// <summary>A copy in insertion order, for views handed out of the registry's lock.</summary>
    public KeyValuePair<string, string>[] ToArray() => _items.ToArray();
}

internal sealed class RegisteredModel
{
    public required string Name { get; init; }
    public long CreationTimestamp { get; init; }
    public long LastUpdatedTimestamp { get; set; }
    public string? Description { get; set; }
    public TagList Tags { get; } = new();

    /// <summary>alias → version number, in insertion order.</summary>
    public List<KeyValuePair<string, int>> Aliases { get; } = new();

    public SortedDictionary<int, ModelVersion> Versions { get; } = new();
    public int LastVersion { get; set; }

    public void SetAlias(string alias, int version)
    {
        var i = Aliases.FindIndex(kv => kv.Key == alias);
        if (i >= 0) Aliases[i] = new(alias, version);
        else Aliases.Add(new(alias, version));
    }

    public bool RemoveAlias(string alias) => Aliases.RemoveAll(kv => kv.Key == alias) > 0;

    public int? ResolveAlias(string alias)
    {
        foreach (var kv in Aliases)
            if (kv.Key == alias) return kv.Value;
        return null;
    }
}

internal sealed class ModelVersion
{
    public required string Name { get; init; }
    public required int Version { get; init; }
    public long CreationTimestamp { get; init; }
    public long LastUpdatedTimestamp { get; set; }
    public string CurrentStage { get; set; } = "None";
    public string? Description { get; set; }
    public required string Source { get; init; }
    public string? RunId { get; init; }
    public string Status { get; set; } = "READY";
    public string? StatusMessage { get; set; }
    public TagList Tags { get; } = new();
    public string? StorageLocation { get; init; }
    public string? ModelId { get; init; }
}

internal sealed class Webhook
{
    public required string Id { get; init; }
    public required string Name { get; set; }
    public string? Description { get; set; }
    public required string Url { get; set; }
    public required List<(string Entity, string Action)> Events { get; set; }
    public string? Secret { get; set; }
    public string Status { get; set; } = "ACTIVE";
    public long CreationTimestamp { get; init; }
    public long LastUpdatedTimestamp { get; set; }
    public bool Deleted { get; set; }
}
