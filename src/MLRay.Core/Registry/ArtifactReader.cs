using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace MLRay.Registry;

/// <summary>The artifact location uses a scheme MLRay cannot read; retrying will not help.</summary>
public sealed class UnsupportedArtifactSchemeException(string uri)
    : Exception($"unsupported artifact scheme in '{uri}': MLRay reads mlflow-artifacts:/, s3://, runs:/ and models:/ locations")
{
    public string Uri { get; } = uri;
}

/// <summary>
/// Reads files of a model version's artifacts, dispatching on the location's scheme (contracts/mlflow.md §3):
/// <c>mlflow-artifacts:/</c> through the tracking server's proxy, <c>s3://</c> directly (MinIO: path-style,
/// <c>MLFLOW_S3_ENDPOINT_URL</c>), <c>runs:/</c> via <c>runs/get</c>, <c>models:/m-…</c> via logged models.
/// </summary>
public sealed class ArtifactReader(MlflowClient mlflow, S3Settings s3) : IDisposable
{
    private readonly Lazy<AmazonS3Client> _s3 = new(() => CreateS3Client(s3));

    /// <summary>Where a model version's files are: a concrete <c>mlflow-artifacts:</c> or <c>s3:</c> URI.</summary>
    public async Task<string> ResolveModelVersionAsync(string name, string version, CancellationToken ct = default) =>
        await ResolveAsync(await mlflow.GetDownloadUriAsync(name, version, ct), ct);

    /// <summary>Follows <c>runs:/</c> and <c>models:/</c> indirections down to a location files can be read from.</summary>
    public async Task<string> ResolveAsync(string uri, CancellationToken ct = default)
    {
        for (var hop = 0; hop < 5; hop++)
        {
            var scheme = SchemeOf(uri);
            switch (scheme)
            {
                case "mlflow-artifacts":
                case "s3":
                    return uri.TrimEnd('/');
                case "runs":
                {
                    var rest = uri["runs:/".Length..].TrimStart('/');
                    var slash = rest.IndexOf('/');
                    var runId = slash < 0 ? rest : rest[..slash];
                    var sub = slash < 0 ? "" : rest[(slash + 1)..];
                    var root = (await mlflow.GetRunArtifactUriAsync(runId, ct)).TrimEnd('/');
                    uri = sub.Length == 0 ? root : $"{root}/{sub}";
                    break;
                }
                case "models":
                {
                    var rest = uri["models:/".Length..].Trim('/');
                    var parts = rest.Split('/');
                    if (parts.Length == 1 && parts[0].StartsWith("m-", StringComparison.Ordinal))
                        uri = await mlflow.GetLoggedModelArtifactUriAsync(parts[0], ct);
                    else if (parts.Length == 2)
                        uri = await mlflow.GetDownloadUriAsync(parts[0], parts[1], ct);
                    else
                        throw new UnsupportedArtifactSchemeException(uri);
                    break;
                }
                default:
                    throw new UnsupportedArtifactSchemeException(uri);
            }
        }
        throw new UnsupportedArtifactSchemeException(uri);
    }

    /// <summary>One file's text (UTF-8) under a resolved location, or null if it is not there.</summary>
    public async Task<string?> ReadTextAsync(string location, string file, CancellationToken ct = default)
    {
        var bytes = await ReadBytesAsync(location, file, ct);
        return bytes is null ? null : System.Text.Encoding.UTF8.GetString(bytes);
    }

    public async Task<byte[]?> ReadBytesAsync(string location, string file, CancellationToken ct = default)
    {
        switch (SchemeOf(location))
        {
            case "mlflow-artifacts":
            {
                var (server, path) = SplitMlflowArtifacts(location);
                return await mlflow.DownloadProxiedArtifactAsync($"{path}/{file}", server, ct);
            }
            case "s3":
            {
                var rest = location["s3://".Length..];
                var slash = rest.IndexOf('/');
                var bucket = slash < 0 ? rest : rest[..slash];
                var prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
                var key = prefix.Length == 0 ? file : $"{prefix}/{file}";
                try
                {
                    using var response = await _s3.Value.GetObjectAsync(bucket, key, ct);
                    using var buffer = new MemoryStream();
                    await response.ResponseStream.CopyToAsync(buffer, ct);
                    return buffer.ToArray();
                }
                catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    return null;
                }
            }
            default:
                throw new UnsupportedArtifactSchemeException(location);
        }
    }

    /// <summary>Reads the files that decide where and how a model is served.</summary>
    public async Task<ModelEnvironmentFiles> ReadEnvironmentFilesAsync(string location, CancellationToken ct = default)
    {
        var pythonEnv = ReadTextAsync(location, "python_env.yaml", ct);
        var requirements = ReadTextAsync(location, "requirements.txt", ct);
        var mlmodel = ReadTextAsync(location, "MLmodel", ct);
        // Read with the rest (one request more, once per version) so a smoke test needs no MLflow request of its own.
        var example = ReadTextAsync(location, Verify.ServingInput.DefaultFile, ct);
        await Task.WhenAll(pythonEnv, requirements, mlmodel, example);
        // conda.yaml only stands in for a missing python_env.yaml or requirements.txt (MLflow writes both since 2.0):
        // asked for only then, which saves a request per version — a sixth of a cold read.
        var conda = pythonEnv.Result is null || requirements.Result is null ? await ReadTextAsync(location, "conda.yaml", ct) : null;
        return new ModelEnvironmentFiles(pythonEnv.Result, conda, mlmodel.Result, requirements.Result) { ServingInputExample = example.Result };
    }

    private static string SchemeOf(string uri)
    {
        var colon = uri.IndexOf(':');
        return colon <= 0 ? "" : uri[..colon].ToLowerInvariant();
    }

    /// <summary><c>mlflow-artifacts:/p</c> → (null, p); <c>mlflow-artifacts://host:port/p</c> → (http://host:port, p).</summary>
    private (Uri? Server, string Path) SplitMlflowArtifacts(string location)
    {
        var rest = location["mlflow-artifacts:".Length..];
        if (!rest.StartsWith("//", StringComparison.Ordinal)) return (null, rest.Trim('/'));
        rest = rest[2..];
        var slash = rest.IndexOf('/');
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? "" : rest[(slash + 1)..];
        return (new Uri($"{mlflow.TrackingUri.Scheme}://{authority}"), path.Trim('/'));
    }

    private static AmazonS3Client CreateS3Client(S3Settings s3)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = true,
            AuthenticationRegion = s3.Region,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (s3.EndpointUrl is { } endpoint) config.ServiceURL = endpoint;
        else config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(s3.Region);
        return s3.AccessKeyId is { } key
            ? new AmazonS3Client(new BasicAWSCredentials(key, s3.SecretAccessKey ?? ""), config)
            : new AmazonS3Client(config);
    }

    public void Dispose()
    {
        if (_s3.IsValueCreated) _s3.Value.Dispose();
    }
}
