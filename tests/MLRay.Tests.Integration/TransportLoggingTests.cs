using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MLRay.Emulators.Ray;
using MLRay.Http;
using MLRay.Serve;
using MLRay.ServiceDefaults;
using Serilog;

namespace MLRay.Tests.Integration;

/// <summary>
/// Issue 16, defect 5, request by request: what MLRay's HTTP clients log through the services' production logging
/// (<see cref="MLRayLogging"/>, CLEF). A request is one Debug line, a retry and a failure Warning; nothing at Information.
/// </summary>
public class TransportLoggingTests
{
    private static readonly JsonObject EmptyConfig = new() { ["applications"] = new JsonArray() };

    private sealed class Logged(StringWriter text, TextWriter synced, ServiceProvider services) : IDisposable
    {
        public IHttpClientFactory Http => services.GetRequiredService<IHttpClientFactory>();

        public List<JsonObject> Lines()
        {
            lock (synced)
                return text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        }

        public void Dispose() => services.Dispose();
    }

    /// <summary>MLRay's HTTP clients in a container with the services' logging; <paramref name="level"/> as <c>Serilog__MinimumLevel__Default</c> would set it.</summary>
    private static Logged Start(string? level = null)
    {
        var text = new StringWriter();
        var synced = TextWriter.Synchronized(text);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(level is null ? [] : [new("Serilog:MinimumLevel:Default", level)]).Build();
        var services = new ServiceCollection()
            .AddSerilog(MLRayLogging.Configure(new LoggerConfiguration(), "test", configuration, synced).CreateLogger(), dispose: true)
            .AddMLRayHttpClients()
            .BuildServiceProvider();
        return new Logged(text, synced, services);
    }

    private static string Level(JsonObject line) => (string?)line["@l"] ?? "Information";

    private static string Show(IEnumerable<JsonObject> lines) => string.Join("\n", lines.Select(l => l.ToJsonString()));

    [Fact]
    public async Task At_the_default_level_a_good_request_writes_nothing_a_retried_503_and_a_failed_request_write_warnings()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions { BuildTime = TimeSpan.Zero });
        using var logged = Start();
        using var client = new RayDashboardClient(ray.BaseUri, http: logged.Http);

        await client.GetApplicationsAsync();
        await client.PutApplicationsAsync(EmptyConfig);
        Assert.True(logged.Lines().Count == 0, "good requests logged at the default level:\n" + Show(logged.Lines()));

        // A 503, retried: the attempt that failed and the retry, each a Warning naming the 503; no line at Information.
        ray.Options.FailNextGets = 1;
        await client.GetApplicationsAsync();
        var retried = logged.Lines();
        Assert.All(retried, l => Assert.Equal("Warning", Level(l)));
        Assert.Contains(retried, l => (string?)l["EventName"] == "OnRetry" && (int?)l["Result"] == 503);
        Assert.Contains(retried, l => (bool?)l["Handled"] == true && (int?)l["Result"] == 503);

        // A request that failed in the end (Ray's 500 is not retried): one Warning with the status and the URL, no query.
        ray.Options.FailNextPuts = 1;
        await Assert.ThrowsAsync<RayRejectedException>(() => client.PutApplicationsAsync(EmptyConfig));
        var failed = logged.Lines().Skip(retried.Count).ToList();
        var warning = Assert.Single(failed);
        Assert.Equal("Warning", Level(warning));
        Assert.Equal(500, (int?)warning["Status"]);
        Assert.Equal("PUT", (string?)warning["Method"]);
        Assert.Equal(new Uri(ray.BaseUri, "/api/serve/applications/").ToString(), (string?)warning["Url"]);
    }

    [Fact]
    public async Task A_request_that_gets_no_answer_after_its_retries_is_one_warning_naming_the_error()
    {
        var closed = new Uri($"http://127.0.0.1:{MLRay.Bench.ServiceProcess.FreePort()}/"); // nothing listens there
        using var logged = Start();
        using var client = new RayDashboardClient(closed, http: logged.Http);

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetApplicationsAsync());

        var lines = logged.Lines();
        // Polly tells each attempt and retry at Warning (the last attempt at Error), with the exception.
        Assert.True(lines.All(l => Level(l) is "Warning" or "Error"), Show(lines));
        Assert.Equal(MLRayHttpClients.MaxRetries, lines.Count(l => (string?)l["EventName"] == "OnRetry"));
        var failed = Assert.Single(lines, l => (string?)l["SourceContext"] == typeof(HttpRequestLogger).FullName);
        Assert.Contains("failed after", (string?)failed["@mt"]);
        Assert.Contains("refused", (string?)failed["Error"], StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task At_debug_each_request_is_one_line_with_method_url_status_and_time_and_httpclients_own_lines_are_gone()
    {
        await using var ray = await RayDashboardEmulator.StartAsync(new RayEmulatorOptions { BuildTime = TimeSpan.Zero });
        using var logged = Start(level: "Debug");
        using var client = new RayDashboardClient(ray.BaseUri, http: logged.Http);

        await client.GetApplicationsAsync();

        var lines = logged.Lines();
        var request = Assert.Single(lines, l => (string?)l["SourceContext"] == typeof(HttpRequestLogger).FullName);
        Assert.Equal("Debug", Level(request));
        Assert.Equal(("GET", 200), ((string?)request["Method"], (int?)request["Status"]));
        Assert.NotNull(request["ElapsedMs"]);
        Assert.DoesNotContain(lines, l => ((string?)l["SourceContext"] ?? "").StartsWith("System.Net.Http.HttpClient"));
        // Polly's line for the attempt is Debug too (it said Information).
        Assert.Contains(lines, l => (string?)l["SourceContext"] == "Polly" && Level(l) == "Debug" && ((string?)l["@mt"] ?? "").StartsWith("Execution attempt"));
        Assert.DoesNotContain(lines, l => Level(l) == "Information");
    }
}
