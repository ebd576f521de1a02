using System.Net.Http.Headers;
using System.Text;
using MassTransit;
using MassTransit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MLRay.Pipeline.Messages;
using MLRay.Receiver.Hosting;
using MLRay.Receiver.Webhooks;

namespace MLRay.Testing;

/// <summary>The real receiver on a free loopback port, with MassTransit's in-memory test harness as the bus.</summary>
internal sealed class ReceiverHost : IAsyncDisposable
{
    public const string Secret = MlflowTestVector.VectorSecret;
    /// <summary>"Now" for the receiver: the contract's test-vector timestamp, so the vector itself is fresh.</summary>
    public static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_755_600_000);

    private ReceiverHost(WebApplication app, FakeTimeProvider time, StringWriter logs)
    {
        App = app;
        Time = time;
        Logs = logs;
        Harness = app.Services.GetRequiredService<ITestHarness>();
        Http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }
    public HttpClient Http { get; }
    public ITestHarness Harness { get; }
    public FakeTimeProvider Time { get; }
    public StringWriter Logs { get; }

    public static async Task<ReceiverHost> StartAsync(string? secret = Secret, Action<IServiceCollection>? overrideServices = null,
        TimeSpan? publishTimeout = null)
    {
        var config = new MLRayConfig
        {
            WorkingDir = ".mlray",
            Mlflow = new MlflowSettings { TrackingUri = new Uri("http://127.0.0.1:9/"), ModelNameSuffix = ".staging" },
            Clusters = [],
            Pipeline = new PipelineSettings
            {
                WebhookSecret = secret,
                // A host without a secret opts in to unsigned webhooks, as receiver.allow_unsigned: true does.
                AllowUnsignedWebhooks = secret is null,
                DedupWindow = TimeSpan.FromMinutes(10),
                RabbitMqUri = new Uri("amqp://mlray:rabbit-password@127.0.0.1:5672/"),
            },
        };
        var time = new FakeTimeProvider(Now);
        var logs = new StringWriter();
        var app = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], config, new DictionaryEnvironment(new Dictionary<string, string>()),
            new ReceiverHostOptions
            {
                // Publishes complete before the receiver answers, so a short inactivity wait is enough for "nothing published".
                ComposeBus = services => services.AddMassTransitTestHarness(x => x.SetTestTimeouts(testInactivityTimeout: TimeSpan.FromMilliseconds(100))),
                LogOutput = logs,
                OverrideServices = services =>
                {
                    services.AddSingleton<TimeProvider>(time);
                    services.Configure<MLflowWebhookOptions>(o => o.PublishTimeout = publishTimeout ?? TimeSpan.FromSeconds(5));
                    overrideServices?.Invoke(services);
                },
            });
        await app.StartAsync();
        return new ReceiverHost(app, time, logs);
    }

    public string NowSeconds => Time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>POSTs <paramref name="body"/> the way MLflow does; signed with <paramref name="signWith"/> unless an explicit signature is given.</summary>
    public Task<HttpResponseMessage> PostAsync(string body, string? deliveryId = null, string? timestamp = null,
        string? signWith = Secret, string? signature = null, bool omitDeliveryId = false, bool omitTimestamp = false) =>
        PostAsync(Encoding.UTF8.GetBytes(body), deliveryId, timestamp, signWith, signature, omitDeliveryId, omitTimestamp);

    public async Task<HttpResponseMessage> PostAsync(byte[] body, string? deliveryId = null, string? timestamp = null,
        string? signWith = Secret, string? signature = null, bool omitDeliveryId = false, bool omitTimestamp = false, bool chunked = false)
    {
        deliveryId ??= Guid.NewGuid().ToString();
        timestamp ??= NowSeconds;
        using var request = new HttpRequestMessage(HttpMethod.Post, WebhookEndpointExtensions.Route);
        HttpContent content = chunked ? new StreamContent(new MemoryStream(body)) : new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (chunked) request.Headers.TransferEncodingChunked = true;
        request.Content = content;
        if (!omitDeliveryId) request.Headers.TryAddWithoutValidation("X-MLflow-Delivery-Id", deliveryId);
        if (!omitTimestamp) request.Headers.TryAddWithoutValidation("X-MLflow-Timestamp", timestamp);
        signature ??= signWith is null ? null : MlflowSignature.Compute(signWith, deliveryId, timestamp, body);
        if (signature is not null) request.Headers.TryAddWithoutValidation("X-MLflow-Signature", signature);
        request.Headers.TryAddWithoutValidation("User-Agent", "python-requests/2.32.4");
        return await Http.SendAsync(request);
    }

    /// <summary>
    /// A signed POST written straight to the socket, for what HttpClient cannot send: the same header on two lines
    /// (HttpClient joins a header's values into one line). Returns the status code and the raw response.
    /// </summary>
    public async Task<(int Status, string Response)> PostRawAsync(byte[] body, params (string Name, string Value)[] headers)
    {
        var uri = new Uri(App.Urls.First());
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        await using var stream = tcp.GetStream();
        var head = new StringBuilder($"POST {WebhookEndpointExtensions.Route} HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\n")
            .Append($"Content-Length: {body.Length}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.Append("\r\n").ToString()));
        await stream.WriteAsync(body);
        var response = await new StreamReader(stream, Encoding.UTF8).ReadToEndAsync();
        return (int.Parse(response.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture), response);
    }

    /// <summary>Every RegistryChanged the bus saw (the harness waits for inactivity when the list is empty).</summary>
    public List<RegistryChanged> Published() =>
        Harness.Published.Select<RegistryChanged>().Select(m => m.Context.Message).ToList();

    public async Task<string> MetricsAsync() => PrometheusText.Normalize(await Http.GetStringAsync("/metrics"));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>Delegates to the real bus, unless told to fail: throw, or never complete (until cancelled).</summary>
public sealed class FlakyPublishEndpoint(IPublishEndpoint inner, FlakyPublishEndpoint.Switch state) : IPublishEndpoint
{
    public enum Mode { Pass, Throw, Hang }

    public sealed class Switch
    {
        public volatile Mode Current = Mode.Pass;
        public int Attempts;
    }

    private async Task Gate(CancellationToken ct)
    {
        Interlocked.Increment(ref state.Attempts);
        switch (state.Current)
        {
            case Mode.Throw: throw new InvalidOperationException("broker unreachable (simulated)");
            case Mode.Hang: await Task.Delay(Timeout.Infinite, ct); break;
        }
    }

    public async Task Publish<T>(T message, CancellationToken cancellationToken = default) where T : class
    { await Gate(cancellationToken); await inner.Publish(message, cancellationToken); }
    public async Task Publish<T>(T message, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default) where T : class
    { await Gate(cancellationToken); await inner.Publish(message, publishPipe, cancellationToken); }
    public async Task Publish<T>(T message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) where T : class
    { await Gate(cancellationToken); await inner.Publish(message, publishPipe, cancellationToken); }
    public async Task Publish(object message, CancellationToken cancellationToken = default)
    { await Gate(cancellationToken); await inner.Publish(message, cancellationToken); }
    public async Task Publish(object message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default)
    { await Gate(cancellationToken); await inner.Publish(message, publishPipe, cancellationToken); }
    public async Task Publish(object message, Type messageType, CancellationToken cancellationToken = default)
    { await Gate(cancellationToken); await inner.Publish(message, messageType, cancellationToken); }
    public async Task Publish(object message, Type messageType, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default)
    { await Gate(cancellationToken); await inner.Publish(message, messageType, publishPipe, cancellationToken); }
    public async Task Publish<T>(object values, CancellationToken cancellationToken = default) where T : class
    { await Gate(cancellationToken); await inner.Publish<T>(values, cancellationToken); }
    public async Task Publish<T>(object values, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default) where T : class
    { await Gate(cancellationToken); await inner.Publish<T>(values, publishPipe, cancellationToken); }
    public async Task Publish<T>(object values, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) where T : class
    { await Gate(cancellationToken); await inner.Publish<T>(values, publishPipe, cancellationToken); }
    public ConnectHandle ConnectPublishObserver(IPublishObserver observer) => inner.ConnectPublishObserver(observer);
}
