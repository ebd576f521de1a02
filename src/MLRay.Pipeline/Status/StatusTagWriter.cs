using System.Globalization;
using Microsoft.Extensions.Logging;
using MLRay.Registry;

namespace MLRay.Pipeline.Status;

/// <summary>
/// Writes status tags onto model versions, only when status, message or endpoint changed: every tag write
/// fires an MLflow webhook (which the receiver ignores for <c>mlray.*</c> keys), so unchanged writes are noise.
/// </summary>
public sealed class StatusTagWriter(MlflowClient mlflow, TimeProvider time, ILogger<StatusTagWriter> log)
{
    public async Task WriteAsync(string cluster, IEnumerable<StatusTag> tags, CancellationToken ct)
    {
        foreach (var tag in tags)
        {
            try
            {
                var current = (await mlflow.GetModelVersionAsync(tag.RegisteredModel, tag.Version, ct)).TagMap;
                string? Current(string field) => current.TryGetValue(StatusTags.Key(cluster, field), out var v) ? v : null;
                if (Current("status") == tag.Status && (Current("message") ?? "") == tag.Message && (Current("endpoint") ?? "") == tag.Endpoint)
                    continue;
                await mlflow.SetModelVersionTagAsync(tag.RegisteredModel, tag.Version, StatusTags.Key(cluster, "status"), tag.Status, ct);
                await mlflow.SetModelVersionTagAsync(tag.RegisteredModel, tag.Version, StatusTags.Key(cluster, "message"), tag.Message, ct);
                await mlflow.SetModelVersionTagAsync(tag.RegisteredModel, tag.Version, StatusTags.Key(cluster, "endpoint"), tag.Endpoint, ct);
                await mlflow.SetModelVersionTagAsync(tag.RegisteredModel, tag.Version, StatusTags.Key(cluster, "updated_at"),
                    time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), ct);
                log.LogInformation("Model {Model} version {Version} on {Cluster}: {Status}", tag.RegisteredModel, tag.Version, cluster, tag.Status);
            }
            catch (MlflowException e) when (e.IsNotFound)
            {
                log.LogInformation("Model {Model} version {Version} is gone; no status written", tag.RegisteredModel, tag.Version);
            }
        }
    }
}
