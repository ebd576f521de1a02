using System.Net.Http.Headers;
using Microsoft.Extensions.Logging.Abstractions;
using MLRay.Cli.Commands;
using MLRay.Emulators.Seed;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Workers;

namespace MLRay.Testing;

/// <summary>
/// The py312 cluster's worker driven in-process against the emulators (real HTTP: MLflow, the Ray dashboard and its Serve
/// proxy), its letters and wake-ups recorded: a reconcile is one call, so tests step it while clients send requests.
/// </summary>
public sealed class ServingHarness : IAsyncDisposable
{
    public const string Cluster = "ray-cluster-py312";
    public static readonly SeedModel Model = SeedModels.All[0];
    public static string Name => Model.RegisteredName;
    public static string Route => "/" + Model.AppName;

    public required DeployWorld World { get; init; }
    internal RecordedWakeUps Recorded { get; } = new();
    private CliServices _services = null!;
    private ClusterWorker _worker = null!;

    public IReadOnlyList<Pipeline.Messages.ModelDeadLettered> Letters { get { lock (Recorded.Letters) return Recorded.Letters.ToList(); } }

    /// <param name="py312">Keys of the py312 cluster, one per line (flow style for maps: <c>rollout: {interval: 1s}</c>).</param>
    public static async Task<ServingHarness> StartAsync(string py312 = "", string mlflow = "")
    {
        var harness = new ServingHarness { World = await DeployWorld.StartAsync() };
        harness.Configure(py312, mlflow);
        return harness;
    }

    /// <summary>A new config for the same emulators (e.g. another <c>traffic</c>), as a restarted worker would read it.</summary>
    public void Configure(string py312 = "", string mlflow = "")
    {
        _services?.Dispose();
        _services = new CliServices(ConfigLoader.Load(World.ConfigYaml(mlflowExtra: mlflow, py312Extra: py312), DeployWorld.NoEnv), DeployWorld.NoEnv, "config.yml");
        _worker = new ClusterWorker(_services.Reconciler(_services.Config.GetCluster(Cluster)),
            new StatusTagWriter(_services.Mlflow, TimeProvider.System, NullLogger<StatusTagWriter>.Instance),
            new WorkerJournal(), Recorded, Recorded, Recorded.Census(_services.Config), NullLogger<ClusterWorker>.Instance);
    }

    public string Register(IReadOnlyDictionary<string, string?>? replaceFiles = null, IReadOnlyDictionary<string, string>? tags = null) =>
        SeedModels.Register(World.Mlflow, Model, tags, replaceFiles: replaceFiles);

    public Task ReconcileAsync(ClusterDeployRequested? request = null) =>
        _worker.ReconcileAsync([request ?? new ClusterDeployRequested { RoutingKey = "all", Reason = "test" }], CancellationToken.None);

    /// <summary>Reconciles every 100 ms (as the worker's follow-up wake-ups would) until <paramref name="done"/>.</summary>
    public async Task ReconcileUntil(Func<bool> done, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            await ReconcileAsync();
            if (done()) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not met within {seconds}s: {what}");
            await Task.Delay(100);
        }
    }

    public string? Tag(string version, string field) =>
        World.Mlflow.GetModelVersionTags(Name, version).GetValueOrDefault($"mlray.{Cluster}.{field}");

    public Emulators.Ray.RayDashboardEmulator Ray => World.Ray312;

    /// <summary>The weights of the model's route in the gateway's table as Ray runs it, by version.</summary>
    public IReadOnlyDictionary<string, int> RunningWeights() => WeightsIn(Ray.GetApplication(Serve.GatewayLayout.AppName)?["deployed_app_config"] as JsonObject);

    /// <summary>The gateway runs (its update done, so its replicas route by this table) with <paramref name="version"/> at <paramref name="weight"/>.</summary>
    public bool GatewayServes(string version, int weight) =>
        Ray.GetApplication(Serve.GatewayLayout.AppName)?["status"]?.GetValue<string>() == "RUNNING" && RunningWeights().GetValueOrDefault(version, -1) == weight;

    public static IReadOnlyDictionary<string, int> WeightsIn(JsonObject? gatewayApp) =>
        Serve.GatewayLayout.RoutesOf(gatewayApp, "/").FirstOrDefault(r => r.Route == Route)?.Versions.ToDictionary(v => v.Version, v => v.Weight)
        ?? new Dictionary<string, int>();

    public async ValueTask DisposeAsync()
    {
        _services?.Dispose();
        await World.DisposeAsync();
    }
}

/// <summary>A client sending the seed's example to a route over and over, recording each answer's status and <c>mlray-version</c>.</summary>
public sealed class ServeClient : IAsyncDisposable
{
    public const string Example = """{"dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"], "data": [[6.1, 2.8, 4.7, 1.2]]}}""";

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly List<(int Status, string? Version, DateTimeOffset At)> _answers = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public Uri Target { get; }

    /// <summary>The answers other than 200, with their bodies (for the assertion messages).</summary>
    public List<string> Failures { get; } = [];

    public ServeClient(Uri serve, string route) => Target = new Uri(serve, route.TrimStart('/'));

    public IReadOnlyList<(int Status, string? Version, DateTimeOffset At)> Answers { get { lock (_answers) return _answers.ToList(); } }

    public async Task<(int Status, string? Version)> SendAsync(string? pin = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Target) { Content = new StringContent(Example, new MediaTypeHeaderValue("application/json")) };
        if (pin is not null) request.Headers.Add("mlray-version", pin);
        int status;
        string? version = null;
        try
        {
            using var response = await _http.SendAsync(request);
            status = (int)response.StatusCode;
            version = response.Headers.TryGetValues("mlray-version", out var v) ? v.First() : null;
            if (status != 200)
            {
                var failure = $"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {status} {await response.Content.ReadAsStringAsync()}";
                lock (_answers) Failures.Add(failure);
            }
        }
        catch (HttpRequestException)
        {
            status = 0; // refused or reset: a lost request
        }
        lock (_answers) _answers.Add((status, version, DateTimeOffset.UtcNow));
        return (status, version);
    }

    /// <summary>Sends requests one after another, <paramref name="pause"/> apart, until disposed or stopped.</summary>
    public ServeClient Start(TimeSpan? pause = null)
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                await SendAsync();
                try { await Task.Delay(pause ?? TimeSpan.FromMilliseconds(10), _stop.Token); } catch (OperationCanceledException) { }
            }
        });
        return this;
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        if (_loop is not null) await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _http.Dispose();
    }
}
