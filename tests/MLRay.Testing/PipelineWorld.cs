using System.Text;
using RabbitMQ.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Pipeline;
using MLRay.Pipeline.Resync;
using MLRay.Pipeline.Workers;
using MLRay.Receiver.Hosting;
using MLRay.Receiver.Webhooks;

namespace MLRay.Testing;

/// <summary>
/// The event pipeline on a real RabbitMQ (a throw-away vhost) and the emulators: a receiver over HTTP, and worker
/// hosts started per test, each with its own service provider (as separate processes would have).
/// </summary>
public sealed class PipelineWorld : IAsyncDisposable
{
    public const string Secret = "whsec-test-please-change";
    private readonly List<IHost> _hosts = [];
    private readonly List<WebApplication> _receivers = [];
    private WebApplication? _receiver;

    public required DeployWorld Emulators { get; init; }
    public required Uri BrokerUri { get; init; }
    /// <summary>The broker the world's vhost is on (released when the world is disposed).</summary>
    public required RabbitMqBroker Broker { get; init; }
    public required string ConfigPath { get; init; }
    public required MLRayConfig Config { get; init; }
    /// <summary>The environment config and hosts read (secrets), <see cref="DeployWorld.NoEnv"/> unless a test gives one.</summary>
    public IEnvironment Env { get; init; } = DeployWorld.NoEnv;
    public Uri? ReceiverUri { get; private set; }

    /// <param name="extraYaml">More top-level config (e.g. <c>retry: …</c>).</param>
    /// <param name="py39Extra">More keys of the py39 cluster, one per line (e.g. <c>platform: linux/aarch64</c>).</param>
    /// <param name="py312Extra">More keys of the py312 cluster, one per line.</param>
    /// <param name="env">The environment the config and every host read (e.g. credentials).</param>
    /// <param name="mlflow">Start-up options of the emulated MLflow (e.g. required credentials).</param>
    public static async Task<PipelineWorld> StartAsync(RabbitMqBroker broker, string resyncInterval = "1h", string extraYaml = "", string py39Extra = "",
        string py312Extra = "", IReadOnlyDictionary<string, string>? env = null, MLRay.Emulators.Mlflow.MlflowEmulatorOptions? mlflow = null)
    {
        var emulators = await DeployWorld.StartAsync(mlflow);
        var environment = env is null ? DeployWorld.NoEnv : new DictionaryEnvironment(new Dictionary<string, string>(env));
        var vhost = await broker.CreateVhostAsync();
        Directory.CreateDirectory(emulators.WorkingDir);
        var secretFile = Path.Combine(emulators.WorkingDir, "webhook-secret");
        await File.WriteAllTextAsync(secretFile, Secret + "\n");
        // A cluster's nodes, in order, as rabbitmq.uris (one flow-style line: interpolated text keeps no indentation).
        var rabbitmq = broker.AmqpUris.Count > 1 ? $"uris: [{string.Join(", ", broker.NodeUris(vhost))}]" : $"uri: {vhost}";
        var yaml = emulators.ConfigYaml(py39Extra: py39Extra, py312Extra: py312Extra) + $"""

            rabbitmq:
              {rabbitmq}
            receiver:
              webhook_secret_file: {secretFile}
              resync_interval: {resyncInterval}
            {extraYaml}
            """;
        var path = Path.Combine(emulators.WorkingDir, "config.yml");
        await File.WriteAllTextAsync(path, yaml);
        return new PipelineWorld
        {
            Broker = broker,
            Emulators = emulators,
            BrokerUri = vhost,
            ConfigPath = path,
            Config = ConfigLoader.LoadFile(path, environment),
            Env = environment,
        };
    }

    /// <summary>
    /// Starts the receiver on a free loopback port and registers it as the emulated MLflow's webhook; a second call starts
    /// another receiver beside it (its own resync timer), not registered.
    /// </summary>
    /// <param name="overrideServices">Replaces services after every registration (<see cref="ReceiverHostOptions.OverrideServices"/>).</param>
    public async Task<WebApplication> StartReceiverAsync(bool registerWebhook = true, TextWriter? log = null, Action<IServiceCollection>? overrideServices = null)
    {
        var receiver = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], Config, Env,
            new ReceiverHostOptions
            {
                LogOutput = log ?? TextWriter.Null,
                OverrideServices = overrideServices,
            });
        await receiver.StartAsync();
        _receivers.Add(receiver);
        if (_receiver is not null) return receiver; // another receiver beside the first (the webhook stays on the first)
        _receiver = receiver;
        ReceiverUri = new Uri(_receiver.Urls.First());
        if (registerWebhook)
            Emulators.Mlflow.CreateWebhook("mlray", new Uri(ReceiverUri, "/webhooks/mlflow").ToString(),
                ["model_version.created", "model_version_alias.created", "model_version_alias.deleted",
                 "model_version_tag.set", "model_version_tag.deleted", "registered_model.created"], Secret);
        return _receiver;
    }

    /// <summary>
    /// Takes every message of a cluster's queue (acked: the test is their only reader). A quorum queue with single active
    /// consumer refuses basic.get, so this is a consumer, for as many messages as the queue counts now.
    /// </summary>
    public async Task<List<MLRay.Pipeline.Messages.ClusterDeployRequested>> TakeAsync(string cluster)
    {
        var queue = MLRay.Pipeline.PipelineTopology.ClusterQueue(cluster);
        await using var connection = await MLRay.Pipeline.Topology.RabbitMqEndpoint.Parse(BrokerUri).ConnectionFactory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var waiting = (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        var taken = new List<MLRay.Pipeline.Messages.ClusterDeployRequested>();
        if (waiting == 0) return taken;
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            lock (taken) taken.Add(MLRay.Pipeline.Failures.MassTransitEnvelope.Deserialize<MLRay.Pipeline.Messages.ClusterDeployRequested>(delivery.Body).Message!);
            return Task.CompletedTask;
        };
        var tag = await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        await WaitUntil(() => { lock (taken) return taken.Count >= waiting; }, 10, $"{waiting} message(s) from {queue}");
        await channel.BasicCancelAsync(tag);
        lock (taken) return [.. taken];
    }

    public ResyncService Resync => _receiver!.Services.GetRequiredService<ResyncService>();

    /// <summary>
    /// Runs a resync and waits until <paramref name="cluster"/>'s worker has reconciled its sweep, so what a test asserts
    /// afterwards is what that reconcile did (not what a fixed wait happened to allow).
    /// </summary>
    public async Task ResyncAndWaitAsync(string cluster)
    {
        var before = _hosts.ToDictionary(h => h, h => Journal(h).Entries.Count);
        await Resync.RequestAsync(now: true, CancellationToken.None);
        await WaitUntil(() => before.Any(b => Journal(b.Key).Entries.Skip(b.Value)
            .Any(e => e.Cluster == cluster && e.Requests.Any(r => r.Reason == "resync"))), what: $"{cluster} reconciled the resync's sweep");
    }

    /// <summary>A worker process: the named clusters' queues, plus the router unless told otherwise.</summary>
    public async Task<IHost> StartWorkerAsync(string[] clusters, bool router = true)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddMLRayPipeline(Config, Env, new PipelineRoles { Router = router, Clusters = clusters });
        var host = builder.Build();
        await host.StartAsync();
        _hosts.Add(host);
        return host;
    }

    public static WorkerJournal Journal(IHost host) => host.Services.GetRequiredService<WorkerJournal>();

    public async Task StopAsync(IHost host)
    {
        await host.StopAsync();
        _hosts.Remove(host);
        host.Dispose();
    }

    /// <summary>Signs a webhook body exactly as MLflow does (contracts/mlflow.md §1.4).</summary>
    public static HttpRequestMessage SignedWebhook(Uri receiver, string body, string? deliveryId = null, long? timestamp = null, string secret = Secret)
    {
        deliveryId ??= Guid.NewGuid().ToString();
        var ts = (timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds()).ToString();
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(receiver, "/webhooks/mlflow"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-MLflow-Delivery-Id", deliveryId);
        request.Headers.Add("X-MLflow-Timestamp", ts);
        // The receiver's signer is pinned to the contract's test vector in MlflowSignatureTests (MlflowTestVector).
        request.Headers.Add("X-MLflow-Signature", MlflowSignature.Compute(secret, deliveryId, ts, Encoding.UTF8.GetBytes(body)));
        return request;
    }

    public static string ModelVersionCreated(string name, string version) =>
        "{\"entity\": \"model_version\", \"action\": \"created\", \"timestamp\": \"" + DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff") + "+00:00\", " +
        "\"data\": {\"name\": \"" + name + "\", \"version\": \"" + version + "\", \"source\": \"models:/m-0123456789abcdef0123456789abcdef\", " +
        "\"run_id\": null, \"tags\": {}, \"description\": null}}";

    /// <summary>The bearer token of the receiver's ops API in the tests that turn it on (<see cref="OpsTokenKeyAsync"/>).</summary>
    public const string OpsToken = "ops-token-0123456789abcdef";

    /// <summary><see cref="OpsToken"/> in a fresh file, and the <c>ops_token_file</c> line of the receiver section that names it (for <c>extraYaml</c>).</summary>
    public static async Task<string> OpsTokenKeyAsync()
    {
        var tokenFile = Path.Combine(Path.GetTempPath(), "mlray-tests", Guid.NewGuid().ToString("N") + ".ops-token");
        Directory.CreateDirectory(Path.GetDirectoryName(tokenFile)!);
        await File.WriteAllTextAsync(tokenFile, OpsToken + "\n");
        return $"  ops_token_file: {tokenFile}";
    }

    public static async Task WaitUntil(Func<bool> condition, int seconds = 30, string? what = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not met within {seconds}s: {what}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            try { await host.StopAsync(TimeSpan.FromSeconds(10)); } catch { /* best effort */ }
            host.Dispose();
        }
        foreach (var receiver in _receivers)
        {
            try { await receiver.StopAsync(); } catch { /* best effort */ }
            await receiver.DisposeAsync();
        }
        await Emulators.DisposeAsync();
        await Broker.ReleaseVhostAsync(BrokerUri);
    }
}
