using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MLRay.Emulators.Seed;
using MLRay.Deploy;

namespace MLRay.Tests.Integration;

/// <summary>A loopback S3 server (s3rver from npm, installed by scripts/setup.sh) for <c>s3://</c> artifact locations.</summary>
public sealed class S3rver : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    public Uri Endpoint { get; }

    private S3rver(Process process, string dir, Uri endpoint) => (_process, _dir, Endpoint) = (process, dir, endpoint);

    public static async Task<S3rver> StartAsync()
    {
        var bin = Environment.GetEnvironmentVariable("S3RVER_BIN") ?? Path.Combine(TestPaths.RepoRoot, "tools", "s3rver", "node_modules", ".bin", "s3rver");
        if (!File.Exists(bin))
            throw new InvalidOperationException($"s3rver not found at {bin}: run scripts/setup.sh (it installs s3rver@3.7.1 from npm)");
        var port = FreePort();
        var dir = Directory.CreateTempSubdirectory("s3rver-").FullName;
        var start = new ProcessStartInfo(bin) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-d", dir, "-a", "127.0.0.1", "-p", port.ToString(), "--silent" }) start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        var endpoint = new Uri($"http://127.0.0.1:{port}");
        using var http = new HttpClient();
        for (var i = 0; ; i++)
        {
            try { await http.GetAsync(endpoint); break; }
            catch (HttpRequestException) when (i < 100) { await Task.Delay(100); }
        }
        return new S3rver(process, dir, endpoint);
    }

    public AmazonS3Client Client() => new(new BasicAWSCredentials("S3RVER", "S3RVER"), new AmazonS3Config
    {
        ServiceURL = Endpoint.ToString(),
        ForcePathStyle = true,
        AuthenticationRegion = "us-east-1",
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    });

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public ValueTask DisposeAsync()
    {
        try { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } catch (InvalidOperationException) { }
        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }
}

public class S3ArtifactTests
{
    [Fact]
    public async Task A_model_whose_artifacts_are_on_s3_is_read_from_s3_and_deployed()
    {
        await using var s3 = await S3rver.StartAsync();
        await using var world = await DeployWorld.StartAsync();
        using var client = s3.Client();
        await client.PutBucketAsync("mlflow");
        var model = SeedModels.All[1];
        const string prefix = "1/4b7e1f0a2c3d4e5f8a9b0c1d2e3f4a5b/artifacts/model";
        foreach (var (file, text) in SeedModels.Files(model, $"s3://mlflow/{prefix}", "run-model", model.Requirements))
        {
            // s3rver stores aws-chunked framing verbatim unless chunk encoding is off (shared/PLATFORM.md).
            await client.PutObjectAsync(new PutObjectRequest { BucketName = "mlflow", Key = $"{prefix}/{file}", ContentBody = text, UseChunkEncoding = false });
            var stored = await client.GetObjectMetadataAsync("mlflow", $"{prefix}/{file}");
            Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), stored.ContentLength);
        }
        world.Mlflow.CreateRegisteredModel(model.RegisteredName, SeedModels.Tags(model.AppName));
        world.Mlflow.CreateModelVersion(model.RegisteredName, $"s3://mlflow/{prefix}");

        var env = new DictionaryEnvironment(new Dictionary<string, string>
        {
            ["MLFLOW_S3_ENDPOINT_URL"] = s3.Endpoint.ToString(),
            ["AWS_ACCESS_KEY_ID"] = "S3RVER",
            ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
        });
        var config = ConfigLoader.Load(world.ConfigYaml(), env);
        var report = await world.DeployAsync("ray-cluster-py39", config, env);

        var outcome = report.Desired.Models.Single();
        Assert.Equal((ModelOutcomeKind.Selected, "3.9.22"), (outcome.Kind, outcome.Python));
        Assert.Equal(AppOutcome.Running, report.Apps.Single().Outcome);
        var sent = JsonNode.Parse(world.Ray39.PutBodies.Single())!["applications"]![0]!;
        Assert.Contains("catboost==1.2.8", sent["runtime_env"]!["pip"]!.AsArray().Select(p => (string)p!));
        Assert.DoesNotContain(world.Mlflow.Requests, r => r.Path.Contains("mlflow-artifacts"));
    }
}
