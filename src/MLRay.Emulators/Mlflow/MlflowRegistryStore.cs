using System.Globalization;
using System.Text.RegularExpressions;

namespace MLRay.Emulators.Mlflow;

/// <summary>
/// The emulated tracking server's state — registered models and their versions, runs, logged models, artifact files,
/// webhooks and their deliveries — apart from the HTTP handlers (as <see cref="Ray.RayClusterStore"/> is for Ray). A
/// reader or writer holds <see cref="Lock"/> for the whole of what it does (a handler reads, changes and renders one
/// model under it), so every member but <see cref="Lock"/> is called under it.
/// </summary>
internal sealed partial class MlflowRegistryStore
{
    private long _lastTimestamp;

    public object Lock { get; } = new();
    public Dictionary<string, RegisteredModel> Models { get; } = new(StringComparer.Ordinal);
    /// <summary>Run id → its artifact URI.</summary>
    public Dictionary<string, string> Runs { get; } = new(StringComparer.Ordinal);
    /// <summary>Logged model id (<c>m-…</c>) → its artifact URI.</summary>
    public Dictionary<string, string> LoggedModels { get; } = new(StringComparer.Ordinal);
    /// <summary>Artifact path (below <c>mlflow-artifacts:/</c>) → content, in path order for listings.</summary>
    public SortedDictionary<string, byte[]> Artifacts { get; } = new(StringComparer.Ordinal);
    public List<Webhook> Webhooks { get; } = new();
    public List<WebhookDelivery> Deliveries { get; } = new();


    /// <summary>Milliseconds since the epoch, strictly increasing (MLflow's timestamps never tie here).</summary>
    public long Now()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (now <= _lastTimestamp) now = _lastTimestamp + 1;
        _lastTimestamp = now;
        return now;
    }

    public RegisteredModel CreateRegisteredModel(string name, IReadOnlyDictionary<string, string>? tags, string? description)
    {
        var now = Now();
        var rm = new RegisteredModel { Name = name, CreationTimestamp = now, LastUpdatedTimestamp = now, Description = description };
        if (tags is not null)
            foreach (var kv in tags) rm.Tags.Set(kv.Key, kv.Value);
        Models[name] = rm;
        return rm;
    }

    public ModelVersion CreateVersion(RegisteredModel rm, string source, string? runId,
        IEnumerable<KeyValuePair<string, string>>? tags, string status, string? storageLocation, string? description)
    {
        string? modelId = null;
        var m = LoggedModelSource().Match(source);
        if (m.Success)
        {
            modelId = m.Groups[1].Value;
            if (storageLocation is null && LoggedModels.TryGetValue(modelId, out var loc)) storageLocation = loc;
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
        return mv;
    }

    /// <summary>The model, or MLflow's 404.</summary>
    public RegisteredModel GetModel(string name)
    {
        if (!Models.TryGetValue(name, out var rm))
            throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Registered Model with name={name} not found");
        return rm;
    }

    /// <summary>The version, or MLflow's 404 (400 for a version that is not a number).</summary>
    public ModelVersion GetVersion(string name, string version)
    {
        var rm = GetModel(name);
        var number = ParseVersion(version);
        if (!rm.Versions.TryGetValue(number, out var mv))
            throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Model Version (name={name}, version={version}) not found");
        return mv;
    }

    private static int ParseVersion(string version)
    {
        if (!int.TryParse(version, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Parameter 'version' must be an integer, got '{version}'.");
        return number;
    }

    [GeneratedRegex("^models:/(m-[0-9a-fA-F]{32})/?$")]
    private static partial Regex LoggedModelSource();
}
