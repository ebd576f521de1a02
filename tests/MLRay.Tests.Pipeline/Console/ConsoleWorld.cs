using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Topology;
using MLRay.Receiver.Console;
using RabbitMQ.Client;

namespace MLRay.Tests.Pipeline.OpsConsole;

/// <summary>
/// The pipeline world with the ops token on and a receiver running (its console at <see cref="Console"/>), plus a bus-only
/// host that puts dead letters in the queues as workers do.
/// </summary>
internal sealed class ConsoleWorld(PipelineWorld pipeline, IHost bus) : IAsyncDisposable
{
    public const string Py39 = "ray-cluster-py39";
    public const string Py312 = "ray-cluster-py312";
    public const string ArmModel = "iris_classifier-py39-catboost11.staging";

    public PipelineWorld Pipeline => pipeline;
    public Uri ConsoleUri => new(pipeline.ReceiverUri!, OpsConsoleExtensions.OverviewPath);
    public DeadLetterStore Store { get; } = new(RabbitMqEndpoint.Parse(pipeline.BrokerUri));

    /// <param name="opsToken">Whether the config names an ops token (without one the console is off).</param>
    public static async Task<ConsoleWorld> StartAsync(RabbitMqBroker broker, bool opsToken = true, string topLevelKeys = "", string py39Extra = "",
        string py312Extra = "", bool startReceiver = true, Action<IServiceCollection>? receiverServices = null)
    {
        var keys = opsToken ? await PipelineWorld.OpsTokenKeyAsync() : "";
        var pipeline = await PipelineWorld.StartAsync(broker, extraYaml: keys + "\n" + topLevelKeys, py39Extra: py39Extra, py312Extra: py312Extra);
        var bus = await pipeline.StartWorkerAsync([], router: false);   // declares the topology; consumes nothing
        if (startReceiver) await pipeline.StartReceiverAsync(overrideServices: receiverServices);
        return new ConsoleWorld(pipeline, bus);
    }

    public async Task<ModelDeadLettered> DeadLetterAsync(string cluster, string model, string version = "1", string? message = null)
    {
        var now = DateTimeOffset.UtcNow;
        var letter = new ModelDeadLettered
        {
            Id = Guid.NewGuid().ToString("N"), Cluster = cluster, RegisteredModel = model, Version = version, App = model.Replace(".staging", ""),
            FailureClass = FailureClass.Install, Message = message ?? $"pip: No matching distribution found for {model}", Attempts = 2,
            FirstFailure = now.AddMinutes(-5), LastFailure = now, DeliveryIds = ["delivery-" + model],
        };
        await bus.Services.GetRequiredService<IDeadLetters>().PublishAsync(letter, CancellationToken.None);
        return letter;
    }

    /// <summary>Publishes a reconcile report as a worker does after each reconcile (on the fanout exchange every receiver hears).</summary>
    public Task ReportReconcileAsync(string cluster) => bus.Services.GetRequiredService<MassTransit.IBus>().Publish(new ReconcileReported
    {
        Cluster = cluster, At = DateTimeOffset.UtcNow, DurationSeconds = 0.1, Applied = false, Triggers = ["test"], Decisions = [],
    });

    public async Task<List<string>> LetterIdsAsync(string cluster) => [.. (await Store.ListAsync(cluster, CancellationToken.None)).Select(e => e.Id)];

    public async Task<uint> MessageCountAsync(string queue)
    {
        await using var connection = await RabbitMqEndpoint.Parse(pipeline.BrokerUri).ConnectionFactory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>A logged-out HTTP client of the console: its own cookies, redirects not followed.</summary>
    public ConsoleClient Client() => new(pipeline.ReceiverUri!);

    public async ValueTask DisposeAsync() => await pipeline.DisposeAsync();
}

/// <summary>The console over plain HTTP, as a browser without JavaScript uses it: cookies kept, the forms' anti-forgery token read from each page.</summary>
internal sealed partial class ConsoleClient(Uri receiver) : IDisposable
{
    public CookieContainer Cookies { get; } = new();
    private HttpClient? _http;
    public HttpClient Http => _http ??= new HttpClient(new SocketsHttpHandler { CookieContainer = Cookies, AllowAutoRedirect = false, UseCookies = true })
    {
        BaseAddress = receiver, Timeout = TimeSpan.FromSeconds(60),
    };

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();

    public static string CsrfOf(string html) => CsrfField().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value)
        : throw new InvalidOperationException("no anti-forgery token on the page:\n" + html);

    /// <summary>The login form's token field filled in and posted (with the form's anti-forgery token, as a browser would).</summary>
    public async Task<HttpResponseMessage> LoginAsync(string token)
    {
        var form = await Http.GetStringAsync(OpsConsoleExtensions.LoginPath);
        return await Http.PostAsync(OpsConsoleExtensions.LoginPath, new FormUrlEncodedContent([new("token", token), new(ConsoleAuth.AntiforgeryField, CsrfOf(form))]));
    }

    /// <summary>Posts <paramref name="fields"/> to <paramref name="path"/> with the anti-forgery token of <paramref name="page"/> (none if null).</summary>
    public async Task<HttpResponseMessage> PostAsync(string path, string? page, bool inPlace, params (string Name, string Value)[] fields)
    {
        var all = fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)).ToList();
        if (page is not null) all.Add(new(ConsoleAuth.AntiforgeryField, CsrfOf(await Http.GetStringAsync(page))));
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(all) };
        if (inPlace) request.Headers.Add(OpsConsoleExtensions.InPlaceHeader, "fetch");
        return await Http.SendAsync(request);
    }

    public void Dispose() => _http?.Dispose();
}
