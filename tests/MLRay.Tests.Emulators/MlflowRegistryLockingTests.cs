using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using MLRay.Emulators.Mlflow;

namespace MLRay.Tests.Emulators;

/// <summary>
/// The MLflow emulator's registry owns its locking: webhook events are collected under its lock and delivered after
/// it is released, and the seeding API and REST change the same state through the same methods.
/// </summary>
public sealed class MlflowRegistryLockingTests
{
    private const string Model = "fraud";

    [Fact]
    public async Task AReceiverThatCallsBackIntoTheEmulatorWhileHandlingADelivery_IsAnswered_AndSeesTheChangeThatFiredIt()
    {
        await using var mlflow = await MlflowEmulator.StartAsync(new MlflowEmulatorOptions { WebhookMaxRetries = 0, WebhookTimeout = TimeSpan.FromSeconds(20) });
        mlflow.CreateModelVersion(Model, "s3://bucket/fraud/1");
        using var api = new HttpClient { BaseAddress = mlflow.BaseUri, Timeout = TimeSpan.FromSeconds(10) };
        var seen = new ConcurrentQueue<(string Key, string? ValueOnRead)>();
        await using var receiver = WebhookReceiver.Start(async body =>
        {
            // While this delivery is unanswered: read the version, and on the first event write to it (firing another event).
            var data = JsonNode.Parse(body)!["data"]!;
            var key = (string)data["key"]!;
            using var read = await api.GetAsync($"/api/2.0/mlflow/model-versions/get?name={Model}&version=1");
            read.EnsureSuccessStatusCode();
            var tags = JsonNode.Parse(await read.Content.ReadAsStringAsync())!["model_version"]!["tags"]!.AsArray();
            seen.Enqueue((key, tags.FirstOrDefault(t => (string)t!["key"]! == key)?["value"]?.GetValue<string>()));
            if (key == "deploy.status")
                (await PostJsonAsync(api, "model-versions/set-tag", new { name = Model, version = "1", key = "receiver.saw", value = "deploy.status" })).EnsureSuccessStatusCode();
        });
        mlflow.CreateWebhook("callback", receiver.Url, ["model_version_tag.set"]);

        var clock = Stopwatch.StartNew();
        mlflow.SetModelVersionTag(Model, "1", "deploy.status", "ok"); // seeding API
        (await PostJsonAsync(api, "model-versions/set-tag", new { name = Model, version = "1", key = "deploy.target", value = "ray" })).EnsureSuccessStatusCode();
        await WaitUntilAsync(() => mlflow.WebhookDeliveries.Count == 3, TimeSpan.FromSeconds(15));

        Assert.All(mlflow.WebhookDeliveries, d => Assert.True(d.ResponseStatus == 200, $"{d.Event} {d.Body}: {d.ResponseStatus} {d.Error}"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"deliveries took {clock.Elapsed}");
        // Each receiver read saw the tag whose event it was handling: the change was complete before its delivery began.
        Assert.Equal(
            new (string, string?)[] { ("deploy.status", "ok"), ("deploy.target", "ray"), ("receiver.saw", "deploy.status") }.Order(),
            seen.Select(s => (s.Key, s.ValueOnRead)).Order());
        Assert.Equal("deploy.status", mlflow.GetModelVersionTags(Model, "1")["receiver.saw"]);
    }

    [Fact]
    public async Task ManyThreadsSettingTagsThroughTheSeedingApiAndRest_LeaveEveryTag_AndFireOneEventPerSet()
    {
        const int writers = 8;
        const int tagsPerWriter = 25;
        await using var mlflow = await MlflowEmulator.StartAsync(new MlflowEmulatorOptions { WebhookMaxRetries = 0 });
        mlflow.CreateModelVersion(Model, "s3://bucket/fraud/1");
        await using var receiver = WebhookReceiver.Start(_ => Task.CompletedTask);
        mlflow.CreateWebhook("counter", receiver.Url, ["model_version_tag.set"]);
        using var api = new HttpClient { BaseAddress = mlflow.BaseUri, Timeout = TimeSpan.FromSeconds(30) };

        using var stopReading = new CancellationTokenSource();
        var readerFailures = new ConcurrentQueue<string>();
        var reader = Task.Run(async () =>
        {
            // Reads while writes go on must always answer 200 with a well-formed version.
            while (!stopReading.IsCancellationRequested)
            {
                using var response = await api.GetAsync($"/api/2.0/mlflow/model-versions/get?name={Model}&version=1");
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK || JsonNode.Parse(text)?["model_version"]?["version"] is null)
                    readerFailures.Enqueue($"{(int)response.StatusCode}: {text}");
            }
        });
        var writes = Enumerable.Range(0, writers).Select(writer => Task.Run(async () =>
        {
            for (var i = 0; i < tagsPerWriter; i++)
            {
                var (key, value) = ($"w{writer}.t{i}", $"v{writer}.{i}");
                if (writer % 2 == 0) mlflow.SetModelVersionTag(Model, "1", key, value);
                else (await PostJsonAsync(api, "model-versions/set-tag", new { name = Model, version = "1", key, value })).EnsureSuccessStatusCode();
            }
        })).ToList();
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(60));
        await stopReading.CancelAsync();
        await reader;

        Assert.Empty(readerFailures);
        var expected = Enumerable.Range(0, writers)
            .SelectMany(w => Enumerable.Range(0, tagsPerWriter).Select(i => KeyValuePair.Create($"w{w}.t{i}", $"v{w}.{i}")))
            .ToDictionary();
        Assert.Equal(expected.OrderBy(kv => kv.Key), mlflow.GetModelVersionTags(Model, "1").OrderBy(kv => kv.Key));
        using (var rest = await api.GetAsync($"/api/2.0/mlflow/model-versions/get?name={Model}&version=1"))
        {
            var tags = JsonNode.Parse(await rest.Content.ReadAsStringAsync())!["model_version"]!["tags"]!.AsArray();
            Assert.Equal(expected.Count, tags.Count);
        }

        await WaitUntilAsync(() => mlflow.WebhookDeliveries.Count >= expected.Count, TimeSpan.FromSeconds(30));
        await mlflow.WaitForWebhookDeliveriesAsync(TimeSpan.FromSeconds(5));
        var delivered = mlflow.WebhookDeliveries;
        Assert.All(delivered, d => Assert.Equal(200, d.ResponseStatus));
        var deliveredKeys = delivered.Select(d => (string)JsonNode.Parse(d.Body)!["data"]!["key"]!).Order().ToList();
        Assert.Equal(expected.Keys.Order(), deliveredKeys); // one event per set, none lost, none doubled
    }

    private static Task<HttpResponseMessage> PostJsonAsync(HttpClient api, string endpoint, object body) =>
        api.PostAsync("/api/2.0/mlflow/" + endpoint,
            new StringContent(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(condition(), $"not reached within {timeout}");
    }

    /// <summary>A webhook receiver on a free loopback port: runs the handler for each delivery, then answers 200.</summary>
    private sealed class WebhookReceiver : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        private WebhookReceiver(Func<string, Task> handle)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/hooks";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext ctx;
                    try { ctx = await _listener.GetContextAsync(); }
                    catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                    _ = Task.Run(async () =>
                    {
                        string body;
                        using (var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = await reader.ReadToEndAsync();
                        try
                        {
                            await handle(body);
                            ctx.Response.StatusCode = 200;
                        }
                        catch (Exception)
                        {
                            ctx.Response.StatusCode = 500; // shows in the emulator's delivery record
                        }
                        ctx.Response.Close();
                    });
                }
            });
        }

        public string Url { get; }

        public static WebhookReceiver Start(Func<string, Task> handle) => new(handle);

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
