using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MLRay.Emulators.PackageIndex;
using MLRay.Emulators.Ray;
using MLRay.Emulators.Seed;
using MLRay.Preflight;

namespace MLRay.Tests.Emulators;

/// <summary>
/// The package index emulator and the emulated Ray's pip serve one catboost catalogue (<see cref="CatboostReleases"/>):
/// what pre-flight reads from the index is what Ray's pip would say on the cluster.
/// </summary>
public class CatboostCatalogueTests
{
    private static IReadOnlyList<string> IndexVersions(IEnumerable<string> filenames) =>
        [.. filenames.Select(f => Regex.Match(f, @"^catboost-([0-9.]+?)(?:-cp|\.tar\.gz$)").Groups[1].Value).Distinct()];

    [Fact]
    public async Task The_package_index_publishes_exactly_the_catboost_versions_rays_pip_knows_with_1_1s_arm_gap()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        using var client = new PackageIndexClient(new PackageIndexSettings { Url = index.SimpleUri, Timeout = TimeSpan.FromSeconds(5) }, TestHttp.Factory);
        var page = (await client.GetProjectAsync("catboost")).Page!;

        var versions = IndexVersions(page.Files.Select(f => f.Filename));
        Assert.Equal(CatboostReleases.Versions, versions);
        Assert.Equal(["1.1", "1.1.1", "1.2", "1.2.1", "1.2.2", "1.2.3", "1.2.5", "1.2.7", "1.2.8"], versions);
        // 1.2.3 in 1.2.2's and 1.2.5's pattern; 1.1 and 1.1.1 still without an aarch64 wheel or an sdist.
        Assert.Contains(page.Files, f => f.Filename == "catboost-1.2.3-cp39-cp39-manylinux2014_aarch64.whl");
        Assert.Contains(page.Files, f => f.Filename == "catboost-1.2.3.tar.gz");
        Assert.DoesNotContain(page.Files, f => f.Filename.StartsWith("catboost-1.1", StringComparison.Ordinal) && (f.Filename.Contains("aarch64") || f.Filename.EndsWith(".tar.gz")));
        Assert.Equal(["1.2", "1.2.1", "1.2.2", "1.2.3", "1.2.5", "1.2.7", "1.2.8"], CatboostReleases.InstallableOn("aarch64"));
        Assert.Equal(CatboostReleases.Versions, CatboostReleases.InstallableOn("x86_64"));
    }

    [Theory]
    [InlineData("aarch64", "catboost==1.1")] // the demo's ARM gap (RayEmulatorOptions' default missing wheel)
    [InlineData("x86_64", "catboost==9.9")]
    public async Task Pre_flight_on_the_index_and_rays_pip_print_the_same_from_versions(string architecture, string requirement)
    {
        // Pre-flight's verdict from the index emulator's page, for a Python 3.9 node of that architecture.
        await using var index = await PackageIndexEmulator.StartAsync();
        using var client = new PackageIndexClient(new PackageIndexSettings { Url = index.SimpleUri, Timeout = TimeSpan.FromSeconds(5) }, TestHttp.Factory);
        var target = new ClusterPlatform(3, 9, 22, architecture, LibcFamily.Glibc, 2, 36);
        var verdict = WheelVerdicts.Judge(requirement, await client.GetProjectAsync("catboost"), target);
        Assert.Equal(VerdictKind.No, verdict.Kind);
        var preflight = FromVersions(verdict.PipError[0]);

        // The same pin on the emulated Ray of a 3.9.22 cluster on that architecture.
        var options = new RayEmulatorOptions { Architecture = architecture, PythonVersion = "3.9.22", BuildTime = TimeSpan.FromMilliseconds(60) };
        if (requirement != "catboost==1.1") options.MissingWheels.Add((requirement, architecture));
        await using var ray = await RayDashboardEmulator.StartAsync(options);
        using var http = new HttpClient { BaseAddress = ray.BaseUri };
        var app = new JsonObject
        {
            ["name"] = "cb", ["route_prefix"] = "/cb", ["import_path"] = "mlray_serve.app:build",
            ["runtime_env"] = new JsonObject { ["pip"] = new JsonArray(requirement, "mlflow==3.1.0") },
        };
        var body = new JsonObject { ["applications"] = new JsonArray(app) }.ToJsonString();
        using (var put = await http.PutAsync("/api/serve/applications/", new StringContent(body, Encoding.UTF8, "application/json")))
            put.EnsureSuccessStatusCode();
        var message = await FailedMessage(http, "cb");

        Assert.Equal(preflight, FromVersions(message));
        Assert.Equal(CatboostReleases.InstallableOn(architecture), preflight);
    }

    private static IReadOnlyList<string> FromVersions(string pipOutput) =>
        Regex.Match(pipOutput, @"\(from versions: ([^)]*)\)").Groups[1].Value.Split(", ");

    private static async Task<string> FailedMessage(HttpClient http, string app)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        JsonNode? last;
        do
        {
            last = JsonNode.Parse(await http.GetStringAsync("/api/serve/applications/"))!["applications"]?[app];
            if (last?["status"]?.GetValue<string>() == "DEPLOY_FAILED") return last["message"]!.GetValue<string>();
            await Task.Delay(25);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail($"{app} did not fail; last: {last?.ToJsonString()}");
        return "";
    }
}
