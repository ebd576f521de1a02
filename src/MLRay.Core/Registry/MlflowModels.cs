using System.Text.Json.Serialization;

namespace MLRay.Registry;

// Registry REST shapes (contracts/mlflow.md §2.3). Unset fields are omitted by MLflow, so everything optional is nullable.

public sealed record MlflowTag(string Key, string Value);

public sealed record RegisteredModelAlias(string Alias, string Version);

public sealed record RegisteredModel
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public List<MlflowTag>? Tags { get; init; }
    public List<RegisteredModelAlias>? Aliases { get; init; }
    public List<ModelVersion>? LatestVersions { get; init; }

    [JsonIgnore]
    public IReadOnlyDictionary<string, string> TagMap => Tags.ToMap();

    /// <summary>Prompts share the registry; MLRay never deploys them.</summary>
    [JsonIgnore]
    public bool IsPrompt => TagMap.TryGetValue("mlflow.prompt.is_prompt", out var v) && v.Equals("true", StringComparison.OrdinalIgnoreCase);
}

public sealed record ModelVersion
{
    public required string Name { get; init; }
    public required string Version { get; init; }
    public string? Status { get; init; }
    public string? Source { get; init; }
    public string? RunId { get; init; }
    public string? CurrentStage { get; init; }
    public string? ModelId { get; init; }
    public long? CreationTimestamp { get; init; }
    public List<MlflowTag>? Tags { get; init; }
    public List<string>? Aliases { get; init; }

    [JsonIgnore]
    public IReadOnlyDictionary<string, string> TagMap => Tags.ToMap();

    [JsonIgnore]
    public bool IsReady => Status is null or "READY";

    /// <summary>Numeric order of versions ("10" after "9").</summary>
    [JsonIgnore]
    public long Number => long.TryParse(Version, out var n) ? n : -1;
}

internal sealed record RegisteredModelResponse(RegisteredModel RegisteredModel);
internal sealed record ModelVersionResponse(ModelVersion ModelVersion);
internal sealed record SearchRegisteredModelsResponse(List<RegisteredModel>? RegisteredModels, string? NextPageToken);
internal sealed record SearchModelVersionsResponse(List<ModelVersion>? ModelVersions, string? NextPageToken);
internal sealed record DownloadUriResponse(string ArtifactUri);
internal sealed record ErrorResponse(string? ErrorCode, string? Message);

public static class TagExtensions
{
    public static IReadOnlyDictionary<string, string> ToMap(this IEnumerable<MlflowTag>? tags)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in tags ?? []) map[t.Key] = t.Value;
        return map;
    }
}

/// <summary>An MLflow error response, keeping MLflow's <c>error_code</c> and <c>message</c>.</summary>
public sealed class MlflowException(int status, string errorCode, string message, string endpoint)
    : Exception($"MLflow {endpoint} failed ({status} {errorCode}): {message}")
{
    public int Status { get; } = status;
    public string ErrorCode { get; } = errorCode;
    public string MlflowMessage { get; } = message;
    public bool IsNotFound => ErrorCode is "RESOURCE_DOES_NOT_EXIST" or "NOT_FOUND" || Status == 404;
    public bool IsTransient => Status is 429 or 502 or 503 or 504 || ErrorCode is "TEMPORARILY_UNAVAILABLE" or "REQUEST_LIMIT_EXCEEDED";
}
