using MLRay.Emulators.PackageIndex;
using MLRay.Preflight;

namespace MLRay.Tests.Preflight;

/// <summary>The index client over real HTTP against the package-index emulator: negotiation, fallback, faults, cache, bounds.</summary>
public class PackageIndexClientTests
{
    private static PackageIndexClient Client(PackageIndexEmulator index, TimeProvider? time = null, int concurrency = 8, string? user = null, string? password = null) =>
        new(new PackageIndexSettings { Url = index.SimpleUri, MaxConcurrency = concurrency, Timeout = TimeSpan.FromSeconds(2), Username = user, Password = password }, TestHttp.Factory, time);

    [Fact]
    public async Task Asks_for_PEP_691_JSON_and_reads_files_with_their_metadata()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        using var client = Client(index);

        var answer = await client.GetProjectAsync("numpy");

        var page = Assert.IsType<ProjectPage>(answer.Page);
        Assert.Contains(page.Files, f => f is { Filename: "numpy-2.3.1-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", RequiresPython: ">=3.11" });
        Assert.Equal(new Uri(index.BaseUri, "/files/numpy-1.26.4.tar.gz"), page.Files.Single(f => f.Filename == "numpy-1.26.4.tar.gz").Url);
        var request = Assert.Single(index.Requests);
        Assert.Equal("/simple/numpy/", request.Path);
        Assert.StartsWith("application/vnd.pypi.simple.v1+json", request.Headers["Accept"]);
        Assert.Equal(200, request.Status);
    }

    [Fact]
    public async Task Falls_back_to_the_HTML_page_and_reaches_the_same_verdict()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        index.AddFile("p", new PackageFile("p-1.0-py3-none-any.whl", ">=3.10"));
        index.AddFile("p", new PackageFile("p-0.9-py3-none-any.whl", Yanked: true));
        using var json = Client(index);
        var fromJson = (await json.GetProjectAsync("p")).Page!;
        index.HtmlOnly = true;
        using var html = Client(index);
        var fromHtml = (await html.GetProjectAsync("p")).Page!;

        Assert.Equal(fromJson.Files, fromHtml.Files);
        Assert.Equal(new IndexFile("p-0.9-py3-none-any.whl", new Uri(index.BaseUri, "/files/p-0.9-py3-none-any.whl"), null, true), fromHtml.Files[1]);
        var verdict = WheelVerdicts.Judge("p==1.0", IndexAnswer.Of(fromHtml), PreflightTargets.A);
        Assert.Equal(VerdictKind.No, verdict.Kind);
        Assert.StartsWith("ERROR: Ignored the following versions that require a different python version: 1.0 Requires-Python >=3.10", verdict.PipError[0]);
    }

    [Fact]
    public async Task An_unknown_project_is_a_404_page_with_no_files_and_a_non_normalised_name_follows_the_301()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        using var client = Client(index);

        var unknown = await client.GetProjectAsync("nosuch");
        Assert.False(unknown.Page!.Found);
        Assert.Empty(unknown.Page.Files);

        var redirected = await client.GetProjectAsync("CatBoost");
        Assert.True(redirected.Page!.Found);
        Assert.Equal([301, 200], index.Requests.Where(r => r.Path.Contains("atboost", StringComparison.OrdinalIgnoreCase)).Select(r => r.Status));
    }

    [Fact]
    public async Task A_5xx_or_a_dead_index_is_unreachable_never_not_found()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        index.FailWithStatus = 503;
        using (var client = Client(index))
        {
            var answer = await client.GetProjectAsync("catboost");
            Assert.Null(answer.Page);
            Assert.Contains("503", answer.Failure);
            Assert.Equal(VerdictKind.Unknown, WheelVerdicts.Judge("catboost==1.1", answer, PreflightTargets.B).Kind);
        }
        index.FailWithStatus = null;
        index.Down = true;
        using (var client = Client(index))
        {
            var answer = await client.GetProjectAsync("catboost");
            Assert.Null(answer.Page);
            Assert.Contains("could not be reached", answer.Failure);
        }
        index.Down = false;
        index.ResponseDelay = TimeSpan.FromSeconds(3); // over the client's 2 s package_index timeout
        using (var client = Client(index))
        {
            var answer = await client.GetProjectAsync("catboost");
            Assert.Null(answer.Page);
            Assert.Contains("did not answer", answer.Failure);
            Assert.Contains("within 2s", answer.Failure);
        }
    }

    [Fact]
    public async Task A_page_is_read_once_per_cache_ttl_and_a_failure_is_retried_sooner()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        var clock = new FakeTimeProvider();
        using var client = Client(index, clock);

        await client.GetProjectAsync("scipy");
        await client.GetProjectAsync("scipy");
        Assert.Single(index.Requests);
        clock.Advance(TimeSpan.FromMinutes(11));
        await client.GetProjectAsync("scipy");
        Assert.Equal(2, index.Requests.Count);

        index.FailWithStatus = 500;
        await client.GetProjectAsync("pandas");
        index.FailWithStatus = null;
        await Task.Delay(50); // the failure's shorter lifetime is set once its answer is in
        Assert.Null((await client.GetProjectAsync("pandas")).Page);
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.NotNull((await client.GetProjectAsync("pandas")).Page);
    }

    [Fact]
    public async Task No_more_than_max_concurrency_requests_are_in_flight()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        index.ResponseDelay = TimeSpan.FromMilliseconds(150);
        using var client = Client(index, concurrency: 2);

        await Task.WhenAll(SeedPackages.All.Keys.Select(p => client.GetProjectAsync(p)));

        Assert.Equal(SeedPackages.All.Count, index.Requests.Count);
        Assert.Equal(2, index.MaxInFlight);
    }

    [Fact]
    public async Task Credentials_from_the_config_are_sent_as_basic_auth()
    {
        await using var index = await PackageIndexEmulator.StartAsync();
        index.RequiredCredentials = ("ci", "s3cret");
        using (var anonymous = Client(index))
            Assert.Contains("401", (await anonymous.GetProjectAsync("mlflow")).Failure);
        using var client = Client(index, user: "ci", password: "s3cret");
        Assert.True((await client.GetProjectAsync("mlflow")).Page!.Found);
    }
}

