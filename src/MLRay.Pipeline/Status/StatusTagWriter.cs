using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Registry;
using MLRay.Telemetry;

namespace MLRay.Pipeline.Status;

/// <summary>
/// The status tags of the model versions one reconcile deals with: what its registry read saw, updated with what it
/// wrote since. Status writes compare against it instead of reading each version again.
/// </summary>
public sealed class KnownStatusTags(RegistrySnapshot snapshot)
{
    private readonly ConcurrentDictionary<(string, string, string), string> _written = new();

    /// <summary>The current value of one tag; <c>Known = false</c> when the read did not see that version at all.</summary>
    public (bool Known, string? Value) Get(string model, string version, string key)
    {
        if (_written.TryGetValue((model, version, key), out var written)) return (true, written);
        if (snapshot.TagsOf(model, version) is not { } tags) return (false, null);
        return (true, tags.TryGetValue(key, out var v) ? v : null);
    }

    public void Wrote(string model, string version, string key, string value) => _written[(model, version, key)] = value;
}

/// <summary>
/// Writes status tags onto model versions, only when status, message or endpoint changed: every tag write
/// fires an MLflow webhook (which the receiver ignores for <c>mlray.*</c> keys), so unchanged writes are noise.
/// What the tags are now comes from the reconcile's own registry read; only a version that read did not see
/// (a model that left the selection) is read first.
/// </summary>
public sealed class StatusTagWriter(MlflowClient mlflow, TimeProvider time, ILogger<StatusTagWriter> log)
{
    private static readonly string[] Fields = [MLRayTags.Status, MLRayTags.Message, MLRayTags.Endpoint];

    public async Task WriteAsync(string cluster, IEnumerable<StatusTag> tags, KnownStatusTags known, CancellationToken ct)
    {
        foreach (var tag in tags)
        {
            try
            {
                var current = await CurrentAsync(cluster, tag, known, ct);
                if (current[MLRayTags.Status] == tag.Status && (current[MLRayTags.Message] ?? "") == tag.Message && (current[MLRayTags.Endpoint] ?? "") == tag.Endpoint)
                    continue;
                // MLflow sets one tag per request: status goes last, so whoever sees a new status also sees its message.
                foreach (var (field, value) in new[] { (MLRayTags.Message, tag.Message), (MLRayTags.Endpoint, tag.Endpoint),
                             (MLRayTags.UpdatedAt, AttemptPolicy.Stamp(time.GetUtcNow())), (MLRayTags.Status, tag.Status) })
                    await SetTagAsync(cluster, tag.RegisteredModel, tag.Version, MLRayTags.Key(cluster, field), value, known, ct);
                log.LogInformation("Model {Model} version {Version} on {Cluster}: {Status}", tag.RegisteredModel, tag.Version, cluster, tag.Status);
            }
            catch (MlflowException e) when (e.IsNotFound)
            {
                log.LogInformation("Model {Model} version {Version} is gone; no status written", tag.RegisteredModel, tag.Version);
            }
        }
    }

    /// <summary>Each version's <c>mlray.&lt;cluster&gt;.attempt</c> tag (its retry memory), when it changed.</summary>
    public async Task WriteAttemptsAsync(string cluster, IEnumerable<AttemptDecision> decisions, KnownStatusTags known, CancellationToken ct)
    {
        foreach (var d in decisions)
        {
            await SetIfChangedAsync(cluster, d.RegisteredModel, d.Version, MLRayTags.Key(cluster, MLRayTags.Attempt), d.State.ToJson(), known, ct);
            // The verdict once there is one; "pending" stays in the attempt tag only.
            if (d.State.SmokeTest is { } verdict && verdict != AttemptState.SmokeTestPending)
                await SetIfChangedAsync(cluster, d.RegisteredModel, d.Version, MLRayTags.Key(cluster, MLRayTags.SmokeTest), verdict, known, ct);
            if (d.State.Rollout is { } rollout)
                await SetIfChangedAsync(cluster, d.RegisteredModel, d.Version, MLRayTags.Key(cluster, MLRayTags.Rollout), rollout.ToJson(), known, ct);
        }
    }

    /// <summary>
    /// Each checked version's <c>mlray.&lt;cluster&gt;.preflight</c> tag, when it changed. A clean pass writes nothing on a
    /// version that never had the tag (most versions: no webhook noise); it replaces an earlier warning with "ok …".
    /// </summary>
    public async Task WritePreflightAsync(string cluster, IEnumerable<Preflight.ModelPreflight> checks, KnownStatusTags known, CancellationToken ct)
    {
        var key = MLRayTags.Key(cluster, MLRayTags.Preflight);
        foreach (var c in checks)
            if (!c.Clean || known.Get(c.RegisteredModel, c.Version, key).Value is not null)
                await SetIfChangedAsync(cluster, c.RegisteredModel, c.Version, key, c.TagText(), known, ct);
    }

    private async Task SetIfChangedAsync(string cluster, string model, string version, string key, string value, KnownStatusTags known, CancellationToken ct)
    {
        if (known.Get(model, version, key).Value == value) return;
        try
        {
            await SetTagAsync(cluster, model, version, key, value, known, ct);
        }
        catch (MlflowException e) when (e.IsNotFound)
        {
            log.LogInformation("Model {Model} version {Version} is gone; {Key} not written", model, version, key);
        }
    }

    private async Task<Dictionary<string, string?>> CurrentAsync(string cluster, StatusTag tag, KnownStatusTags known, CancellationToken ct)
    {
        var current = new Dictionary<string, string?>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, string>? read = null;
        foreach (var field in Fields)
        {
            var key = MLRayTags.Key(cluster, field);
            var (isKnown, value) = known.Get(tag.RegisteredModel, tag.Version, key);
            if (!isKnown)
            {
                read ??= (await mlflow.GetModelVersionAsync(tag.RegisteredModel, tag.Version, ct)).TagMap;
                value = read.TryGetValue(key, out var v) ? v : null;
            }
            current[field] = value;
        }
        return current;
    }

    private async Task SetTagAsync(string cluster, string model, string version, string key, string value, KnownStatusTags known, CancellationToken ct)
    {
        await mlflow.SetModelVersionTagAsync(model, version, key, value, ct);
        MLRayTelemetry.StatusTagWrites.Add(1, MLRayTelemetry.Tag("cluster", cluster));
        known.Wrote(model, version, key, value);
    }
}
