namespace MLRay.Emulators.Mlflow;

// What the registry hands out: immutable copies taken under its lock, so that handlers and the seeding API read and
// serialize them (with MlflowWire) after the lock is released.

internal sealed record ModelVersionView(
    string Name,
    int Version,
    long CreationTimestamp,
    long LastUpdatedTimestamp,
    string CurrentStage,
    string? Description,
    string Source,
    string? RunId,
    string Status,
    string? StatusMessage,
    IReadOnlyList<KeyValuePair<string, string>> Tags,
    IReadOnlyList<string> Aliases,
    string? StorageLocation,
    string? ModelId)
{
    /// <summary>Where the version's files are: the resolved storage location, else the source as registered.</summary>
    public string ArtifactLocation => StorageLocation ?? Source;
}

internal sealed record RegisteredModelView(
    string Name,
    long CreationTimestamp,
    long LastUpdatedTimestamp,
    string? Description,
    IReadOnlyList<ModelVersionView> LatestVersions,
    IReadOnlyList<KeyValuePair<string, string>> Tags,
    IReadOnlyList<KeyValuePair<string, int>> Aliases);

internal sealed record WebhookView(
    string Id,
    string Name,
    string? Description,
    string Url,
    IReadOnlyList<(string Entity, string Action)> Events,
    string Status,
    long CreationTimestamp,
    long LastUpdatedTimestamp);

/// <summary>One page of a search or list, and the offset of the next one (null on the last page).</summary>
internal sealed record RegistryPage<T>(IReadOnlyList<T> Items, int? NextOffset);

/// <summary>Where a webhook's deliveries go, as it was when the event happened.</summary>
internal sealed record WebhookTarget(string WebhookId, string Url, string? Secret);

/// <summary>One event to send to one webhook, collected under the registry's lock and delivered after it is released.</summary>
internal sealed record PendingDelivery(RegistryEvent Event, WebhookTarget Target);

/// <summary>
/// A registry change that webhooks subscribe to, with the fields its payload echoes (MLflow echoes the request's
/// values, e.g. the client's version string); <see cref="MlflowWire.EventData"/> builds that payload.
/// </summary>
internal abstract record RegistryEvent(string Entity, string Action)
{
    /// <summary>As delivered and recorded: <c>model_version.created</c>.</summary>
    public string Name => Entity + "." + Action;

    /// <summary>As a webhook subscribes to it: <c>(MODEL_VERSION, CREATED)</c>.</summary>
    public (string Entity, string Action) Subscription => (Entity.ToUpperInvariant(), Action.ToUpperInvariant());
}

internal sealed record RegisteredModelCreated(string Model, IReadOnlyList<KeyValuePair<string, string>> Tags, string? Description)
    : RegistryEvent("registered_model", "created");

internal sealed record ModelVersionCreated(string Model, string Version, string Source, string? RunId,
    IReadOnlyList<KeyValuePair<string, string>> Tags, string? Description)
    : RegistryEvent("model_version", "created");

internal sealed record ModelVersionTagSet(string Model, string Version, string Key, string Value)
    : RegistryEvent("model_version_tag", "set");

internal sealed record ModelVersionTagDeleted(string Model, string Version, string Key)
    : RegistryEvent("model_version_tag", "deleted");

internal sealed record ModelVersionAliasCreated(string Model, string Alias, string Version)
    : RegistryEvent("model_version_alias", "created");

internal sealed record ModelVersionAliasDeleted(string Model, string Alias)
    : RegistryEvent("model_version_alias", "deleted");
