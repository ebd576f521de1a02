using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Receiver.Webhooks;
using MLRay.Serve;
using RabbitMQ.Client;

namespace MLRay.Bench;

/// <summary>
/// Ingest against the broker's own limit: signed webhooks into a real <c>mlray-receiver</c> process (each 2xx only
/// after the broker's confirm) at each concurrency, and, in the same run, on the same broker, at the same concurrency,
/// a bare RabbitMQ.Client publisher awaiting each confirm of the same body into a quorum queue. Then the whole
/// pipeline: a real <c>mlray-worker</c> (router and cluster) consuming a burst while the receiver takes it.
/// </summary>
public static class IngestBenchmark
{
    private const string BareQueue = "mlray-bench-bare-publisher";
    private const int Models = 50;

    public sealed record Settings(IReadOnlyList<int> Concurrency, TimeSpan Duration, int PipelineWebhooks);

    public static async Task RunAsync(Settings settings, Uri broker, TextWriter output, CancellationToken ct)
    {
        using var temp = new TempDirectory(); // disposed last: the services' logs are in it
        var dir = temp.Path;
        await using var vhost = await ThrowAwayVhost.CreateAsync(broker);
        await using var mlflow = await MlflowEmulator.StartAsync();
        await using var ray = await PipelineBench.StartRayAsync();
        var names = Enumerable.Range(0, Models).Select(i => $"ingest-model-{i:D3}").ToList();
        foreach (var name in names) SeedModels.RegisterCopy(mlflow, SeedModels.All[0], name);
        var bodies = names.Select(n => Encoding.UTF8.GetBytes(WebhookBody((SeedModels.All[0] with { AppName = n }).RegisteredName))).ToList();

        var configFile = Path.Combine(dir, "config.yml");
        await File.WriteAllTextAsync(configFile, await PipelineBench.ConfigYamlAsync(mlflow.BaseUri, ray, dir, vhost.Uri, ct), ct);

        await using var receiver = await ServiceProcess.StartAsync("MLRay.Receiver", "mlray-receiver", ["--config", configFile],
            Path.Combine(dir, "receiver.log"), ct);
        var webhooks = new WebhookSender(new Uri(receiver.BaseUri, WebhookEndpointExtensions.Route), bodies);
        await using var bare = await BarePublisher.StartAsync(vhost.Uri, bodies[0], ct);

        // Warm both sides (JIT tiering, connection pools, the queues' first segments) before anything is measured: with
        // 2 s the first measured run still paid for the receiver's tier-1 compilation (twice the CPU per webhook).
        await Load.RunAsync(64, TimeSpan.FromSeconds(5), webhooks.SendAsync, ct);
        await Load.RunAsync(64, TimeSpan.FromSeconds(5), bare.PublishAsync, ct);

        output.WriteLine($"## ingest (signed webhooks → mlray-receiver process → RabbitMQ quorum queue, vs a bare RabbitMQ.Client publisher; {settings.Duration.TotalSeconds:0} s per run)");
        output.WriteLine();
        output.WriteLine("| senders | bare publisher | p50 | p99 | receiver (2xx after confirm) | p50 | p99 | non-2xx | ratio | receiver CPU per webhook |");
        output.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var concurrency in settings.Concurrency)
        {
            // Back to back, bare first, each onto an empty queue.
            await vhost.PurgeAsync(BareQueue);
            await vhost.PurgeAsync(PipelineTopology.RegistryChangesQueue);
            var baseline = await Load.RunAsync(concurrency, settings.Duration, bare.PublishAsync, ct);
            var cpu = receiver.CpuTime();
            var ingest = await Load.RunAsync(concurrency, settings.Duration, webhooks.SendAsync, ct);
            var cpuPerWebhook = (receiver.CpuTime() - cpu).TotalMicroseconds / Math.Max(1, ingest.Ok + ingest.Failed);
            output.WriteLine($"| {concurrency} | {baseline.Rate:N0}/s | {baseline.P50:F1} ms | {baseline.P99:F1} ms " +
                             $"| {ingest.Rate:N0}/s | {ingest.P50:F1} ms | {ingest.P99:F1} ms | {ingest.Failed} | {ingest.Rate / baseline.Rate:F2} | {cpuPerWebhook:F0} µs |");
        }
        await vhost.PurgeAsync(BareQueue);
        await vhost.PurgeAsync(PipelineTopology.RegistryChangesQueue);
        var receiverPeak = receiver.PeakRssBytes();
        output.WriteLine();

        // The whole pipeline: a worker routes and deploys while the receiver takes a burst about the same models.
        await using var worker = await ServiceProcess.StartAsync("MLRay.Worker", "mlray-worker",
            ["--config", configFile, "--cluster", "ray-cluster-py312"], Path.Combine(dir, "worker.log"), ct);
        using var rayClient = new RayDashboardClient(ray.BaseUri, MLRay.Http.MLRayHttpClients.NewFactory());
        using var scrape = new HttpClient();
        var clock = Stopwatch.StartNew();
        var burst = await Load.RunAsync(16, TimeSpan.FromMinutes(5), webhooks.SendAsync, ct, settings.PipelineWebhooks);
        var accepted = clock.Elapsed;
        await PipelineBench.WaitAsync(async () => await PipelineBench.MetricAsync(scrape, worker.BaseUri, "mlray_routing_decisions", "", ct) >= burst.Ok, TimeSpan.FromMinutes(3), () => "every webhook routed");
        var routed = clock.Elapsed;
        await PipelineBench.WaitAsync(async () => (await rayClient.GetApplicationsAsync(ct)).Applications.Values.Count(a => a.Status == AppStatus.Running) >= Models,
            TimeSpan.FromMinutes(1), () => $"{Models} apps RUNNING");
        var running = clock.Elapsed;

        output.WriteLine($"## pipeline under a burst ({burst.Ok:N0} webhooks about {Models} models, 16 senders; mlray-worker routing and deploying meanwhile)");
        output.WriteLine();
        output.WriteLine("| figure | value |");
        output.WriteLine("|---|---:|");
        output.WriteLine($"| webhooks accepted | {burst.Ok:N0} ({burst.Failed} non-2xx) in {ReconcileBenchmark.Format(accepted)}: {burst.Rate:N0}/s, p99 {burst.P99:F1} ms |");
        output.WriteLine($"| every one routed | {ReconcileBenchmark.Format(routed)} |");
        output.WriteLine($"| all {Models} apps RUNNING | {ReconcileBenchmark.Format(running)} |");
        output.WriteLine($"| Ray PUTs | {ray.PutCount} |");
        output.WriteLine($"| peak RSS, mlray-receiver (whole run) | {Mib(receiver.PeakRssBytes())} (after the ingest table: {Mib(receiverPeak)}) |");
        output.WriteLine($"| peak RSS, mlray-worker | {Mib(worker.PeakRssBytes())} |");
        output.WriteLine();
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):F0} MiB";

    /// <summary>A <c>model_version.created</c> webhook body as MLflow sends it (contracts/mlflow.md).</summary>
    private static string WebhookBody(string registeredModel) => new JsonObject
    {
        ["entity"] = "MODEL_VERSION",
        ["action"] = "CREATED",
        ["timestamp"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture),
        ["data"] = new JsonObject
        {
            ["name"] = registeredModel,
            ["version"] = "1",
            ["source"] = "models:/m-0123456789abcdef0123456789abcdef",
            ["run_id"] = null,
            ["tags"] = new JsonObject(),
            ["description"] = null,
        },
    }.ToJsonString();

    /// <summary>MLflow's side: each request a fresh delivery id, a current timestamp and its v1 signature.</summary>
    private sealed class WebhookSender(Uri endpoint, IReadOnlyList<byte[]> bodies)
    {
        private static readonly MediaTypeHeaderValue Json = new("application/json");
        private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        private long _sent;

        public async Task<bool> SendAsync(CancellationToken ct)
        {
            var n = Interlocked.Increment(ref _sent);
            var body = bodies[(int)(n % bodies.Count)];
            var deliveryId = Guid.NewGuid().ToString();
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = Json;
            request.Headers.TryAddWithoutValidation(MLflowWebhookHandler.DeliveryIdHeader, deliveryId);
            request.Headers.TryAddWithoutValidation(MLflowWebhookHandler.TimestampHeader, timestamp);
            request.Headers.TryAddWithoutValidation(MLflowWebhookHandler.SignatureHeader, MlflowSignature.Compute(PipelineBench.Secret, deliveryId, timestamp, body));
            try
            {
                using var response = await _http.SendAsync(request, ct);
                return response.StatusCode == HttpStatusCode.Accepted;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }
    }

    /// <summary>What a new user would measure the broker with: one channel, publisher confirms, each publish awaited.</summary>
    private sealed class BarePublisher : IAsyncDisposable
    {
        private readonly IConnection _connection;
        private readonly IChannel _channel;
        private readonly ReadOnlyMemory<byte> _body;
        private readonly BasicProperties _properties = new() { Persistent = true, ContentType = "application/json" };

        private BarePublisher(IConnection connection, IChannel channel, byte[] body) => (_connection, _channel, _body) = (connection, channel, body);

        public static async Task<BarePublisher> StartAsync(Uri vhost, byte[] body, CancellationToken ct)
        {
            var connection = await new ConnectionFactory { Uri = vhost, ClientProvidedName = "mlray-bench bare publisher" }.CreateConnectionAsync(ct);
            var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct);
            await channel.QueueDeclareAsync(BareQueue, durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" }, cancellationToken: ct);
            return new BarePublisher(connection, channel, body);
        }

        public async Task<bool> PublishAsync(CancellationToken ct)
        {
            try
            {
                await _channel.BasicPublishAsync("", BareQueue, mandatory: true, _properties, _body, ct);
                return true;
            }
            catch (RabbitMQ.Client.Exceptions.PublishException)
            {
                return false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _channel.DisposeAsync();
            await _connection.DisposeAsync();
        }
    }
}

/// <summary>N senders, each sending its next request as soon as the previous one is answered, for a time or a count.</summary>
internal static class Load
{
    public sealed record Result(long Ok, long Failed, TimeSpan Elapsed, double P50, double P99)
    {
        public double Rate => Ok / Elapsed.TotalSeconds;
    }

    public static async Task<Result> RunAsync(int senders, TimeSpan duration, Func<CancellationToken, Task<bool>> send, CancellationToken ct, long? count = null)
    {
        var latencies = new List<double>[senders];
        long ok = 0, failed = 0, started = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, senders).Select(i => Task.Run(async () =>
        {
            var mine = latencies[i] = new List<double>(capacity: 1 << 16);
            while (clock.Elapsed < duration && (count is null || Interlocked.Increment(ref started) <= count))
            {
                var begin = Stopwatch.GetTimestamp();
                var success = await send(ct);
                mine.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
                Interlocked.Increment(ref success ? ref ok : ref failed);
            }
        }, ct)));
        var elapsed = clock.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToList();
        return new Result(ok, failed, elapsed, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Max(0, (int)Math.Ceiling(sorted.Count * p) - 1)];
}
