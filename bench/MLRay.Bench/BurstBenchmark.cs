using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Emulators.Seed;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;
using MLRay.Pipeline;
using MLRay.Receiver.Hosting;
using MLRay.Serve;

namespace MLRay.Bench;

/// <summary>
/// N registrations at once, delivered by the MLflow emulator's 10 webhook senders (MLflow's pool) to the receiver,
/// through RabbitMQ (a throw-away vhost), the router and one cluster worker, onto the Ray emulator; then one more
/// registration with N models deployed.
/// </summary>
public static class BurstBenchmark
{
    public static async Task RunAsync(int count, Uri broker, TextWriter output, CancellationToken ct)
    {
        using var temp = new TempDirectory(); // disposed last: the services' logs are in it
        var dir = temp.Path;
        await using var vhost = await ThrowAwayVhost.CreateAsync(broker);
        await using var mlflow = await MlflowEmulator.StartAsync();
        await using var ray = await PipelineBench.StartRayAsync();
        var config = ConfigLoader.Load(await PipelineBench.ConfigYamlAsync(mlflow.BaseUri, ray, dir, vhost.Uri, ct), BenchEnvironment.Empty);

        await using var receiver = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], config, BenchEnvironment.Empty,
            new ReceiverHostOptions { LogOutput = TextWriter.Null });
        await receiver.StartAsync(ct);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("MLRAY_BENCH_LOG") is not null) builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Information);
        builder.Services.AddMLRayPipeline(config, BenchEnvironment.Empty, new PipelineRoles { Router = true, Clusters = [config.Clusters[0].Name] });
        using var worker = builder.Build();
        await worker.StartAsync(ct);
        PipelineBench.Subscribe(mlflow, new Uri(receiver.Urls.First()));
        var rayClient = worker.Services.GetRequiredService<ClusterReconcilers>().Ray(config.Clusters[0].Name);

        try
        {
            // The burst: every registration at once, as a training pipeline registering a model zoo would.
            var registered = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            var start = DateTimeOffset.UtcNow;
            for (var i = 0; i < count; i++)
            {
                var app = $"burst-model-{i:D4}";
                SeedModels.RegisterCopy(mlflow, SeedModels.All[0], app);
                registered[app] = DateTimeOffset.UtcNow;
            }
            await PipelineBench.WaitAsync(async () => Running(await rayClient.GetApplicationsAsync(ct)) >= count, TimeSpan.FromSeconds(120),
                () => $"every app RUNNING ({Running(rayClient.GetApplicationsAsync(ct).GetAwaiter().GetResult())} of {count}, {ray.PutCount} PUTs, " +
                      $"{mlflow.WebhookDeliveries.Count} webhooks answered: {string.Join(", ", mlflow.WebhookDeliveries.GroupBy(d => d.ResponseStatus).Select(g => $"{g.Key}×{g.Count()}"))})");
            var allRunning = DateTimeOffset.UtcNow - start;

            var puts = Puts(ray);
            var firstWebhook = mlflow.WebhookDeliveries.Min(d => d.StartedAt);
            var latencies = registered.Select(r => (puts.First(p => p.Apps.Contains(r.Key)).At - r.Value).TotalMilliseconds).Order().ToList();
            var burstRequests = mlflow.Requests.Count;

            // One more registration with `count` models deployed: webhook answered → PUT.
            await Task.Delay(TimeSpan.FromSeconds(1), ct); // let status-tag webhooks settle
            var before = mlflow.Requests.Count;
            var putsBefore = puts.Count;
            const string extra = "one-more-model";
            SeedModels.RegisterCopy(mlflow, SeedModels.All[0], extra);
            await PipelineBench.WaitAsync(() => Task.FromResult(Puts(ray).Any(p => p.Apps.Contains(extra))), TimeSpan.FromSeconds(30), () => "the extra model's PUT");
            await PipelineBench.WaitAsync(() => Task.FromResult(Answered(mlflow, extra) is not null), TimeSpan.FromSeconds(30), () => "the extra model's webhook");
            var extraPut = Puts(ray).First(p => p.Apps.Contains(extra)).At;
            var webhookAnswered = Answered(mlflow, extra)!.Value;

            output.WriteLine($"## burst ({count} registrations, 10 webhook senders → receiver → RabbitMQ → router → 1 worker → Ray emulator)");
            output.WriteLine();
            output.WriteLine("| figure | value |");
            output.WriteLine("|---|---:|");
            output.WriteLine($"| PUTs for the burst | {putsBefore} |");
            output.WriteLine($"| first webhook → first PUT | {ReconcileBenchmark.Format(puts[0].At - firstWebhook)} |");
            output.WriteLine($"| registration → PUT p50 | {latencies[latencies.Count / 2]:F0} ms |");
            output.WriteLine($"| registration → PUT p99 | {latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1]:F0} ms |");
            output.WriteLine($"| first registration → all {count} RUNNING | {ReconcileBenchmark.Format(allRunning)} |");
            output.WriteLine($"| MLflow requests during the burst | {burstRequests:N0} |");
            output.WriteLine($"| one more registration ({count} deployed): webhook answered → PUT | {(extraPut - webhookAnswered).TotalMilliseconds:F0} ms |");
            output.WriteLine($"| MLflow requests for that registration | {mlflow.Requests.Count - before:N0} |");
            output.WriteLine();
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
            await receiver.StopAsync(CancellationToken.None);
        }
    }

    private static int Running(ServeInstance apps) => apps.Applications.Values.Count(a => a.Status == AppStatus.Running);

    private static DateTimeOffset? Answered(MlflowEmulator mlflow, string app) => mlflow.WebhookDeliveries
        .Where(d => d.Event == "model_version.created" && d.Body.Contains($"\"{app}.staging\"", StringComparison.Ordinal))
        .Select(d => (DateTimeOffset?)d.AnsweredAt).FirstOrDefault();

    private sealed record Put(DateTimeOffset At, HashSet<string> Apps);

    private static List<Put> Puts(RayDashboardEmulator ray) => ray.Requests
        .Where(r => r.Method == "PUT" && r.Status == 200)
        .Select(r => new Put(r.At, JsonNode.Parse(r.Body)!["applications"]!.AsArray().Select(a => (string)a!["name"]!).ToHashSet()))
        .OrderBy(p => p.At).ToList();
}

/// <summary>A vhost of its own on the broker (management API on port 15672, the URI's credentials), deleted afterwards.</summary>
internal sealed class ThrowAwayVhost : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly string _name;

    private ThrowAwayVhost(HttpClient http, string name, Uri uri) => (_http, _name, Uri) = (http, name, uri);

    public Uri Uri { get; }

    public static async Task<ThrowAwayVhost> CreateAsync(Uri amqp)
    {
        var user = amqp.UserInfo.Split(':');
        var http = new HttpClient { BaseAddress = new UriBuilder("http", amqp.Host, 15672, "/api/").Uri };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.UnescapeDataString(user[0])}:{Uri.UnescapeDataString(user.ElementAtOrDefault(1) ?? "")}")));
        var name = "mlray-bench-" + Guid.NewGuid().ToString("N")[..12];
        (await http.PutAsync($"vhosts/{name}", Json("{}"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"permissions/{name}/{Uri.EscapeDataString(Uri.UnescapeDataString(user[0]))}",
            Json("""{"configure":".*","write":".*","read":".*"}"""))).EnsureSuccessStatusCode();
        return new ThrowAwayVhost(http, name, new UriBuilder(amqp) { Path = "/" + name }.Uri);
    }

    /// <summary>Empties a queue of this vhost (management API).</summary>
    public async Task PurgeAsync(string queue)
    {
        using var response = await _http.DeleteAsync($"queues/{Uri.EscapeDataString(_name)}/{Uri.EscapeDataString(queue)}/contents");
        if (response.StatusCode != System.Net.HttpStatusCode.NotFound) response.EnsureSuccessStatusCode();
    }

    /// <summary>Messages (ready and unacked) in this vhost's queues whose name <paramref name="counts"/> accepts (management API: up to 5 s old).</summary>
    public async Task<long> MessagesAsync(Func<string, bool> counts)
    {
        var queues = JsonNode.Parse(await _http.GetStringAsync($"queues/{Uri.EscapeDataString(_name)}?columns=name,messages"))!.AsArray();
        return queues.Where(q => counts((string)q!["name"]!)).Sum(q => (long?)q!["messages"] ?? 0);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    public async ValueTask DisposeAsync()
    {
        try { await _http.DeleteAsync($"vhosts/{_name}"); } catch (HttpRequestException) { /* best effort */ }
        _http.Dispose();
    }
}
