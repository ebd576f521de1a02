using Microsoft.Extensions.DependencyInjection;
using System.Security.Cryptography;
using MLRay.Cli.Emulators;
using MLRay.Deploy;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Topology;

using MLRay.Receiver.Hosting;
using MLRay.Registry;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Demo;

/// <summary>A seed model's version the demo follows on its cluster, and that version's <c>mlray.&lt;cluster&gt;.status</c> and <c>.message</c> tags.</summary>
public sealed record DemoModelStatus(string Cluster, string Version, string Status, string Message);

/// <summary>What the demo ended with: each seed model's status tag on its cluster, and each cluster's apps.</summary>
public sealed record DemoOutcome(
    IReadOnlyDictionary<string, DemoModelStatus> Models,
    IReadOnlyDictionary<string, ServeInstance> Clusters,
    string Transport)
{
    /// <summary>The second act (RabbitMQ only): the ARM model's dead letter, and its status after ops fixed the cause and replayed it.</summary>
    public (string LetterId, string StatusAfterReplay)? Replay { get; init; }

    /// <summary>The third act: verified serving through the py312 cluster's gateway (null when it could not start).</summary>
    public GatewayActOutcome? Gateway { get; init; }
}

/// <summary>
/// The third act's end: a version whose predict fails, stopped at its smoke test, and a good one rolled out, on the py312
/// cluster's gateway while a client sent unpinned requests to the model's route.
/// </summary>
public sealed record GatewayActOutcome
{
    public required string BadVersion { get; init; }
    /// <summary>The bad version's <c>mlray.&lt;cluster&gt;.status</c> tag once it was given up (the good version's rollout later marks it UNDEPLOYED).</summary>
    public required string BadStatus { get; init; }
    /// <summary>Its <c>mlray.&lt;cluster&gt;.smoke_test</c> verdict: <c>failed: HTTP 500 …</c>.</summary>
    public required string BadSmokeTest { get; init; }
    /// <summary>Its dead letter's id (from its attempt tag; with RabbitMQ, found in the cluster's dead-letter queue).</summary>
    public string? BadLetterId { get; init; }
    /// <summary>What the client got from the bad version's registration until it was given up.</summary>
    public required TrafficCounts WhileBadWasTried { get; init; }

    public required string GoodVersion { get; init; }
    /// <summary>The good version's weights, in order, each once its <c>mlray.&lt;cluster&gt;.rollout</c> tag set it and Ray's gateway routed by it.</summary>
    public required IReadOnlyList<int> GoodWeights { get; init; }
    /// <summary>Its status tag at the end of the act.</summary>
    public required string GoodStatus { get; init; }
    /// <summary>From its registration until it ran alone (the previous version's app gone); null when it did not.</summary>
    public TimeSpan? RolloutTime { get; init; }

    /// <summary>Everything the client got during the act.</summary>
    public required TrafficCounts Client { get; init; }
}

/// <summary>
/// <c>mlray demo</c>: the seed's scenario, event-driven, on emulators over real HTTP. An emulated MLflow sends
/// signed webhooks to a real receiver; the router and one worker per cluster (py39 on aarch64, py312 on x86_64)
/// deploy through RabbitMQ when one is reachable, else MassTransit's in-memory transport. Nobody runs a deploy
/// command: registering the three catboost models ends with two served and the ARM catboost 1.1 one failed with pip's
/// message — predicted by the wheel pre-flight (<c>preflight: warn</c> against an emulated package index, so Ray is
/// still asked) — then, with RabbitMQ, retried, dead-lettered, replayed once the cause is fixed, and RUNNING; and, on the
/// py312 cluster's gateway, a version whose predict fails is stopped at its smoke test while a client keeps getting
/// version 1's answers, and a good one rolls out 10 → 50 → 100 %; all visible in the models' <c>mlray.*</c> tags.
/// </summary>
/// <param name="holdOpen">Awaited once the acts are done, before the stack stops (<c>mlray demo</c>: until Enter, so the ops console
/// can be explored); null stops at once (<c>--exit</c>, the tests).</param>
public sealed class DemoRunner(IAnsiConsole console, string workingDir, TimeSpan buildTime, Uri rabbitMqUri, Func<CancellationToken, Task>? holdOpen = null)
{
    private const string GatewayCluster = "ray-cluster-py312";
    private static readonly SeedModel GatewayModel = SeedModels.All.Single(m => m.RegisteredName == "iris_classifier-py312-catboost12.staging");

    private static readonly Dictionary<string, string> ClusterOf = new()
    {
        [GatewayModel.RegisteredName] = GatewayCluster,
        ["iris_classifier-py39-catboost12.staging"] = "ray-cluster-py39",
        ["iris_classifier-py39-catboost11.staging"] = "ray-cluster-py39",
    };

    /// <summary>The py312 cluster's <c>rollout.steps</c>: the weights the third act's good version must go through.</summary>
    private static readonly int[] RolloutSteps = [10, 50, 100];

    /// <summary>What the third act's broken build answers: the traceback of a predict that looks up a column by the wrong key.</summary>
    private const string BrokenPredict = """
        Traceback (most recent call last):
          File "/home/ray/mlray_serve/app.py", line 57, in __call__
        KeyError: 'petal length (cm)'

        """;

    /// <summary>The version of each model the tag table follows: 1, until the third act rolls out the py312 model's good version.</summary>
    private readonly Dictionary<string, string> _followed = ClusterOf.Keys.ToDictionary(m => m, _ => "1");

    public async Task<DemoOutcome> RunAsync(CancellationToken ct = default)
    {
        console.Write(new Rule("[bold]MLRay demo[/]: register models in MLflow, and Ray Serve follows"));
        // The same emulators as `mlray emulators`, on free ports; the models are registered later, on screen.
        await using var stack = await EmulatorStack.StartAsync(EmulatorPorts.Free, buildTime, ct);
        var (mlflow, ray39, ray312, index) = (stack.Mlflow, stack.RayPy39, stack.RayPy312, stack.PackageIndex);
        console.MarkupLine($"Emulated MLflow at [blue]{mlflow.BaseUri}[/]; Ray py39 (aarch64) at [blue]{ray39.BaseUri}[/] (Serve [blue]{ray39.ServeUri}[/]); Ray py312 (x86_64) at [blue]{ray312.BaseUri}[/] (Serve [blue]{ray312.ServeUri}[/])");
        console.MarkupLine($"Emulated package index (the seed's catboost, numpy, pandas, scipy, mlflow and pyarrow releases) at [blue]{index.SimpleUri}[/]");

        var rabbit = await BrokerProbe.IsReachableAsync(rabbitMqUri, TimeSpan.FromSeconds(2), ct);
        var transport = rabbit
            ? $"RabbitMQ at {RabbitMqEndpoint.Parse(rabbitMqUri)}"
            : $"MassTransit's in-memory transport (no RabbitMQ reachable at {RabbitMqEndpoint.Parse(rabbitMqUri)}; run scripts/rabbitmq.sh start for the real one)";
        console.MarkupLine($"Broker: [bold]{Markup.Escape(transport)}[/]");

        Directory.CreateDirectory(workingDir);
        var secretFile = Path.Combine(workingDir, "webhook-secret");
        await File.WriteAllTextAsync(secretFile, Convert.ToHexString(RandomNumberGenerator.GetBytes(24)), ct);
        // The ops console's token: fresh per run, in a file as production keeps it (receiver.ops_token_file).
        var opsToken = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var opsTokenFile = Path.Combine(workingDir, "ops-token");
        await File.WriteAllTextAsync(opsTokenFile, opsToken, ct);
        var configPath = Path.Combine(workingDir, "config.yml");
        // py312 serves through the gateway: a short rollout interval and few requests per step keep the third act brief, and
        // one attempt dead-letters a version failing its smoke test at once (retrying the same build cannot help).
        await File.WriteAllTextAsync(configPath, $"""
            mlray:
              working_dir: {workingDir}
            mlflow:
              tracking_uri: {mlflow.BaseUri}
            rabbitmq:
              uri: {rabbitMqUri}
            receiver:
              webhook_secret_file: {secretFile}
              ops_token_file: {opsTokenFile}
              resync_interval: 1h
            package_index: {index.SimpleUri}
            ray_clusters:
            - name: ray-cluster-py39
              python_version: '3.9'
              dashboard_address: {ray39.BaseUri}
              serve_address: {ray39.ServeUri}
              platform: linux/aarch64
              preflight: warn
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 60s
              retry:
                attempts: 2
                delays: [2s]
            - name: {GatewayCluster}
              python_version: '3.12'
              dashboard_address: {ray312.BaseUri}
              serve_address: {ray312.ServeUri}
              platform: linux/x86_64
              preflight: block
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 60s
              traffic: gateway
              rollout:
                steps: [{string.Join(", ", RolloutSteps)}]
                interval: 3s
                min_requests: 5
              retry:
                attempts: 1
            """, ct);
        var env = new DictionaryEnvironment(new Dictionary<string, string>());
        var config = ConfigLoader.LoadFile(configPath, env);
        var logPath = Path.Combine(workingDir, "pipeline.log");
        await using var log = new StreamWriter(logPath) { AutoFlush = true };

        // One process plays every role here; in production they are mlray-receiver and mlray-worker processes.
        await using var receiver = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], config, env, new ReceiverHostOptions
        {
            LogOutput = TextWriter.Synchronized(log),
            ComposeBus = s => s.AddMLRayPipeline(config, env, new PipelineRoles
            {
                Receiver = true, Router = true, Clusters = [.. config.Clusters.Select(c => c.Name)], InMemory = !rabbit,
            }),
        });
        await receiver.StartAsync(ct);
        var hookUrl = new Uri(new Uri(receiver.Urls.First()), "/webhooks/mlflow");
        // The clients of the receiver's own container: the demo builds no second one.
        await receiver.Services.GetRequiredService<MlflowClient>().CreateWebhookAsync(new MlflowClient.WebhookFields
            {
                Name = "mlray", Url = hookUrl.ToString(), Events = Commands.WebhookCommands.Events,
                Secret = config.Pipeline.WebhookSecret, Description = Commands.WebhookCommands.Description,
            }, ct);
        console.MarkupLine($"Receiver at [blue]{hookUrl}[/], registered as MLflow's webhook (signed); config [blue]{Markup.Escape(configPath)}[/], logs [blue]{Markup.Escape(logPath)}[/]");

        var opsConsole = new Uri(new Uri(receiver.Urls.First()), MLRay.Receiver.Console.OpsConsoleExtensions.OverviewPath);
        console.MarkupLine($"Ops console at [blue]{opsConsole}[/]: log in with the token [bold]{opsToken}[/] (also in [blue]{Markup.Escape(opsTokenFile)}[/])");

        console.MarkupLine("A data scientist now registers the seed's three models ([bold].staging[/], tags ray.name, ray.num_replicas=1, num_cpus=0.5, memory=1 GiB)…");
        SeedModels.RegisterAll(mlflow);

        await FollowTagsAsync(mlflow, TimeSpan.FromSeconds(90), s => s.Values.All(v => v.Status is DeployStatus.Running or DeployStatus.Failed), ct);
        if (mlflow.GetModelVersionTags("iris_classifier-py39-catboost11.staging", "1").GetValueOrDefault("mlray.ray-cluster-py39.preflight") is { } warned)
            console.MarkupLine($"The wheel pre-flight had warned (preflight: warn, so Ray was asked anyway): {Markup.Escape(RayMessage.Summarize(warned, 1000))}");
        (string, string)? replay = rabbit ? await SecondActAsync(mlflow, ray39, config, configPath, ct) : null;
        if (!rabbit) console.MarkupLine("[grey]The second act (dead letters, fixing the cause, replay) needs RabbitMQ: scripts/rabbitmq.sh start[/]");
        var reconcilers = receiver.Services.GetRequiredService<ClusterReconcilers>();
        var gateway = await ThirdActAsync(mlflow, ray312, reconcilers.Ray(GatewayCluster), config, configPath, rabbit, ct);
        var statuses = ReadStatuses(mlflow);
        var clusters = new Dictionary<string, ServeInstance>();
        foreach (var cluster in config.Clusters)
            clusters[cluster.Name] = await reconcilers.Ray(cluster.Name).GetApplicationsAsync(ct);

        var outcome = new DemoOutcome(statuses, clusters, transport) { Replay = replay, Gateway = gateway };
        WriteSummary(outcome);
        if (holdOpen is not null)
        {
            console.MarkupLine($"The stack stays up: ops console at [blue]{opsConsole}[/] (token [bold]{opsToken}[/]), MLflow at [blue]{mlflow.BaseUri}[/]. [bold]Press Enter to stop it.[/]");
            await holdOpen(ct);
        }
        await receiver.StopAsync(ct);
        return outcome;
    }

    /// <summary>
    /// The second act: the ARM model is retried (2 attempts here, 2 s apart) and dead-lettered; ops list the dead letters,
    /// fix the cause (the py39 cluster moves to x86_64, where catboost 1.1 has wheels) and replay; the model ends RUNNING.
    /// </summary>
    private async Task<(string LetterId, string StatusAfterReplay)?> SecondActAsync(MlflowEmulator mlflow, RayDashboardEmulator ray39, MLRayConfig config,
        string configPath, CancellationToken ct)
    {
        const string arm = "iris_classifier-py39-catboost11.staging", cluster = "ray-cluster-py39";
        console.Write(new Rule("[bold]Second act[/]: retries, the dead-letter queue, and a replay once the cause is fixed").LeftJustified());
        console.MarkupLine($"The worker tries {Markup.Escape(arm)} again with a new runtime_env (Ray would answer an identical one from its 10-minute bad-env cache), then gives up…");
        // The worker writes the attempt tag (its retry memory) before status and message: wait for the message too.
        var dead = await FollowTagsAsync(mlflow, TimeSpan.FromSeconds(60),
            s => mlflow.GetModelVersionTags(arm, "1").GetValueOrDefault($"mlray.{cluster}.attempt")?.Contains("dead_letter") == true
                 && s[arm].Message.Contains("dead-lettered", StringComparison.Ordinal), ct);
        console.MarkupLine($"[red]{Markup.Escape(arm)}[/]: {Markup.Escape(RayMessage.Summarize(dead[arm].Message, 2000))}");

        // The demo shares the broker's default vhost with earlier runs: show and replay this run's letter only (its id is in the tag).
        var id = AttemptState.Parse(mlflow.GetModelVersionTags(arm, "1").GetValueOrDefault($"mlray.{cluster}.attempt"))?.DeadLetter;
        var operations = new DeadLetterOperations(config);   // what mlray dlq runs
        var py39 = config.GetCluster(cluster);
        console.MarkupLine($"[bold]$ mlray dlq list {Markup.Escape(configPath)} {cluster}[/]");
        var letter = id is null ? null : await operations.FindAsync(py39, id, ct);
        Commands.DlqCommands.WriteList(new DeadLetterListing([new ClusterDeadLetters(cluster, letter is null ? [] : [letter])], null), console.Profile.Out.Writer);
        if (letter is null) return null;

        console.MarkupLine("Ops fix the cause: the py39 cluster is moved to x86_64 nodes, where catboost 1.1 publishes wheels.");
        ray39.Options.Architecture = "x86_64";
        console.MarkupLine($"[bold]$ mlray dlq replay {Markup.Escape(configPath)} {cluster} --id {letter.Id}[/]");
        var outcome = await operations.ReplayAsync(py39, new LetterSelection { Ids = [letter.Id] }, ct);
        console.MarkupLine($"replayed {outcome.Removed.Count} letter(s); the worker gives {Markup.Escape(arm)} a fresh set of attempts");
        var after = await FollowTagsAsync(mlflow, TimeSpan.FromSeconds(60), s => s[arm].Status == DeployStatus.Running, ct);
        return (letter.Id, after[arm].Status);
    }

    /// <summary>
    /// The third act, on the py312 cluster's gateway while a client sends the model's example to its route: a version whose
    /// predict fails is stopped at its (pinned) smoke test and never answers the client; a good one rolls out step by step,
    /// judged by the gateway's stats, until it serves alone. Null when version 1 is not there to serve.
    /// </summary>
    /// <param name="ray">The py312 cluster's dashboard, as MLRay reads it: which apps run, and the weights the gateway routes by.</param>
    private async Task<GatewayActOutcome?> ThirdActAsync(MlflowEmulator mlflow, RayDashboardEmulator ray312, RayDashboardClient ray, MLRayConfig config,
        string configPath, bool rabbit, CancellationToken ct)
    {
        const string served = "1", bad = "2", good = "3";
        var name = GatewayModel.RegisteredName;
        string? Tag(string version, string field) => mlflow.GetModelVersionTags(name, version).GetValueOrDefault(MLRayTags.Key(GatewayCluster, field));
        console.Write(new Rule("[bold]Third act[/]: verified serving — a smoke test stops a broken version, a good one rolls out through the gateway").LeftJustified());
        if (Tag(served, MLRayTags.Status) != DeployStatus.Running || Tag(served, MLRayTags.Endpoint) is not { } endpoint)
        {
            console.MarkupLine($"[red]{Markup.Escape(name)} v{served} is not running on {GatewayCluster}: no third act[/]");
            return null;
        }
        var rollout = config.GetCluster(GatewayCluster).Serving.Rollout;
        await using var client = new DemoTrafficClient(new Uri(endpoint), SeedModels.ServingInputExample);
        client.Start(TimeSpan.FromMilliseconds(10));
        console.MarkupLine($"{GatewayCluster} serves through its [bold]mlray-gateway[/] app (traffic: gateway). A client now posts the model's serving input example to [blue]{Markup.Escape(endpoint)}[/] (v{served}'s endpoint tag), unpinned, throughout the act.");
        var actStart = TimeProvider.System.GetTimestamp();
        string Clock() => $"+{TimeProvider.System.GetElapsedTime(actStart).TotalSeconds,4:0.0} s";

        // A broken build: its smoke test is pinned (mlray-version), so it is judged before it gets any share of the route.
        ray312.Options.SetPredictFault(name, bad, PredictFault.Error(500, BrokenPredict));
        console.MarkupLine($"A data scientist registers v{bad}, a build whose predict raises KeyError: 'petal length (cm)'…");
        var beforeBad = client.Counts;
        Registered(SeedModels.Register(mlflow, GatewayModel), bad);
        await WaitUntilAsync(() => Tag(bad, MLRayTags.Status) == DeployStatus.Failed && AttemptState.Parse(Tag(bad, MLRayTags.Attempt))?.DeadLetter is not null,
            TimeSpan.FromSeconds(60), ct);
        var whileBad = client.Counts.Since(beforeBad);
        var (badStatus, badSmoke) = (Tag(bad, MLRayTags.Status) ?? "waiting", Tag(bad, MLRayTags.SmokeTest) ?? "");
        console.MarkupLine($"{Clock()}  v{bad} stopped at its smoke test: [red]{Markup.Escape(badSmoke)}[/]");
        console.MarkupLine($"         v{bad} {Colour(badStatus)}; the client meanwhile: {Markup.Escape(whileBad.ToString())}");
        var letterId = AttemptState.Parse(Tag(bad, MLRayTags.Attempt))?.DeadLetter;
        var operations = rabbit ? new DeadLetterOperations(config) : null;
        var py312 = config.GetCluster(GatewayCluster);
        if (operations is not null && letterId is not null)
        {
            var letter = await operations.FindAsync(py312, letterId, ct);
            console.MarkupLine(letter is null
                ? $"[red]         its dead letter {letterId} is not in {PipelineTopology.DeadLetterQueue(GatewayCluster)}[/]"
                : $"         dead-lettered after {letter.Letter?.Attempts} attempt(s): letter {letterId} in {PipelineTopology.DeadLetterQueue(GatewayCluster)}");
            if (letter is null) letterId = null;
        }

        console.MarkupLine($"A fixed build is registered as v{good}: smoke test, then rollout.steps {string.Join(" → ", rollout.Steps)} % every {rollout.Interval.TotalSeconds:0.#} s while the gateway's stats show its error rate at most {rollout.MaxErrorRate:0.# %}…");
        var goodStart = TimeProvider.System.GetTimestamp();
        Registered(SeedModels.Register(mlflow, GatewayModel), good);
        var weights = new List<int>();
        var stepCounts = client.Counts;
        TimeSpan? rolledOut = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var previousApp = GatewayLayout.VersionAppName(GatewayModel.AppName, served);
        while (rolledOut is null && DateTime.UtcNow < deadline)
        {
            var status = Tag(good, MLRayTags.Status);
            var apps = (await ray.GetApplicationsAsync(ct)).Applications;
            // A step shows once MLRay set it (a verified version's rollout tag) and Ray's gateway routes by it (its update is
            // done): then the client's split between two lines is that of one weight.
            if (status is DeployStatus.RollingOut or DeployStatus.Running && RolloutState.Parse(Tag(good, MLRayTags.Rollout)) is { } r
                && (weights.Count == 0 || weights[^1] != r.Weight) && GatewayWeight(apps, good) == r.Weight)
            {
                var now = client.Counts;
                console.MarkupLine(weights.Count == 0
                    ? $"{Clock()}  v{good} smoke test {Markup.Escape(Tag(good, MLRayTags.SmokeTest) ?? "?")}: at [bold]{r.Weight} %[/]"
                    : $"{Clock()}  v{good} at [bold]{r.Weight} %[/]   the client at {weights[^1]} %: {Markup.Escape(now.Since(stepCounts).ToString())}");
                weights.Add(r.Weight);
                stepCounts = now;
            }
            if (status == DeployStatus.Running && weights.LastOrDefault() == 100 && !apps.ContainsKey(previousApp))
            {
                rolledOut = TimeProvider.System.GetElapsedTime(goodStart);
                console.MarkupLine($"{Clock()}  v{good} {Colour(DeployStatus.Running)}, v{served}'s app is gone   the client at 100 %: {Markup.Escape(client.Counts.Since(stepCounts).ToString())}");
                _followed[name] = good;
            }
            else await Task.Delay(100, ct);
        }
        await client.StopAsync();

        if (operations is not null && letterId is not null)
        {
            // v3 replaces the broken build: ops drop its letter rather than replay it (and the shared vhost keeps no leftovers).
            console.MarkupLine($"[bold]$ mlray dlq purge {Markup.Escape(configPath)} {GatewayCluster} --id {letterId} --yes[/]");
            var purged = await operations.PurgeAsync(py312, new LetterSelection { Ids = [letterId] }, ct);
            console.MarkupLine($"purged {purged.Removed.Count} letter(s): v{good} replaces the broken build");
        }
        var act = new GatewayActOutcome
        {
            BadVersion = bad, BadStatus = badStatus, BadSmokeTest = badSmoke, BadLetterId = letterId, WhileBadWasTried = whileBad,
            GoodVersion = good, GoodWeights = weights, GoodStatus = Tag(good, MLRayTags.Status) ?? "waiting", RolloutTime = rolledOut,
            Client = client.Counts,
        };
        console.MarkupLine($"Third act: v{bad} {(act.Client.ByVersion.ContainsKey(bad) ? "[red]answered client requests[/]" : "never answered a client request")} — stopped at its smoke test, {Colour(act.BadStatus)}; "
            + $"v{good} went {string.Join(" → ", weights)} %{(rolledOut is { } t ? $" in {t.TotalSeconds:0.0} s and serves alone" : ", [red]not done within 60 s[/]")}; "
            + $"the client's {act.Client.Requests} requests: {Markup.Escape(act.Client.ToString())}.");
        return act;
    }

    /// <summary>The weight of <paramref name="version"/> on the model's route in the gateway's table, once Ray runs that table; else null.</summary>
    private static int? GatewayWeight(IReadOnlyDictionary<string, ServeApp> apps, string version) =>
        apps.GetValueOrDefault(GatewayLayout.AppName) is { Status: AppStatus.Running } gateway
            ? GatewayLayout.RoutesOf(gateway.DeployedAppConfig, "/").FirstOrDefault(r => r.RegisteredModel == GatewayModel.RegisteredName)
                ?.Versions.FirstOrDefault(v => v.Version == version)?.Weight
            : null;

    /// <summary>The demo sets up each version's fault before registering it, so the registry must hand out the number it expected.</summary>
    private static void Registered(string version, string expected)
    {
        if (version != expected) throw new InvalidOperationException($"the third act expected to register version {expected}, MLflow made {version}");
    }

    private static async Task WaitUntilAsync(Func<bool> done, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done() && DateTime.UtcNow < deadline) await Task.Delay(100, ct);
    }

    /// <summary>Each model's followed version, with its status and message tags on its cluster.</summary>
    private Dictionary<string, DemoModelStatus> ReadStatuses(MlflowEmulator mlflow) => ClusterOf.ToDictionary(m => m.Key, m =>
    {
        var version = _followed[m.Key];
        var tags = mlflow.GetModelVersionTags(m.Key, version);
        return new DemoModelStatus(m.Value, version,
            tags.GetValueOrDefault(MLRayTags.Key(m.Value, MLRayTags.Status)) ?? "waiting",
            tags.GetValueOrDefault(MLRayTags.Key(m.Value, MLRayTags.Message)) ?? "");
    });

    /// <summary>Shows each model's <c>mlray.&lt;cluster&gt;.status</c> tag live until <paramref name="done"/>.</summary>
    private async Task<IReadOnlyDictionary<string, DemoModelStatus>> FollowTagsAsync(
        MlflowEmulator mlflow, TimeSpan timeout, Func<Dictionary<string, DemoModelStatus>, bool> done, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        var state = ReadStatuses(mlflow);
        if (!console.Profile.Capabilities.Interactive)
        {
            while (!done(state) && DateTime.UtcNow < deadline) { await Task.Delay(250, ct); state = ReadStatuses(mlflow); }
            return state;
        }
        await console.Live(TagTable(state)).StartAsync(async live =>
        {
            while (!done(state) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250, ct);
                state = ReadStatuses(mlflow);
                live.UpdateTarget(TagTable(state));
                live.Refresh();
            }
            live.UpdateTarget(new Text(""));
        });
        return state;
    }

    private static Table TagTable(IReadOnlyDictionary<string, DemoModelStatus> state)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("mlray.* tags on each model version (MLflow UI)")
            .AddColumn("model version").AddColumn("cluster").AddColumn("status");
        foreach (var (model, s) in state)
            table.AddRow(Markup.Escape($"{model} v{s.Version}"), s.Cluster, Colour(s.Status));
        return table;
    }

    private static string Colour(string status) => status switch
    {
        DeployStatus.Running => "[green]RUNNING[/]",
        DeployStatus.Failed or AppStatus.DeployFailed => $"[red]{status}[/]",
        _ => $"[yellow]{Markup.Escape(status)}[/]",
    };

    private void WriteSummary(DemoOutcome outcome)
    {
        console.Write(TagTable(outcome.Models));
        console.Write(new Rule("[bold]What each Ray cluster serves[/]").LeftJustified());
        var table = new Table().Border(TableBorder.Rounded).AddColumn("cluster").AddColumn("app").AddColumn("route").AddColumn("Ray status");
        foreach (var (cluster, instance) in outcome.Clusters)
            foreach (var app in instance.Applications.Values.OrderBy(a => a.Name))
                table.AddRow(cluster, Markup.Escape(app.Name), Markup.Escape(app.RoutePrefix ?? "-"), Colour(app.Status));
        console.Write(table);
        foreach (var (model, s) in outcome.Models.Where(m => m.Value.Status == DeployStatus.Failed))
        {
            console.MarkupLine($"[red]Why {Markup.Escape(model)} is not served on {s.Cluster}[/] (its mlray.{s.Cluster}.message tag, in Ray's words):");
            console.WriteLine(s.Message);
        }
        console.MarkupLine(outcome.Replay is { } replay
            ? $"catboost 1.1 publishes no Linux aarch64 wheel, so pip on the ARM py39 cluster could not install it: retried, dead-lettered (letter {replay.LetterId}), replayed once the cluster ran on x86_64, and now {replay.StatusAfterReplay}. Its neighbour on that cluster ran throughout."
            : "catboost 1.1 publishes no Linux aarch64 wheel, so pip on the ARM py39 cluster cannot install it; the other app on that cluster is unaffected.");
    }

    /// <summary>
    /// The seed's story: two models running, the ARM catboost 1.1 model failed with pip's message — and, with RabbitMQ, the
    /// second act: dead-lettered, replayed after the fix, RUNNING — and the third act: the broken py312 build FAILED at its
    /// smoke test without answering the client, the good one rolled out through every step and serving alone behind the
    /// gateway, the client never refused.
    /// </summary>
    public static bool WentAsExpected(DemoOutcome outcome) =>
        outcome.Models.GetValueOrDefault(GatewayModel.RegisteredName) is { Status: DeployStatus.Running }
        && outcome.Models.GetValueOrDefault("iris_classifier-py39-catboost12.staging") is { Status: DeployStatus.Running }
        && (outcome.Replay is { StatusAfterReplay: DeployStatus.Running }
            || outcome.Models.GetValueOrDefault("iris_classifier-py39-catboost11.staging") is { Cluster: "ray-cluster-py39", Status: DeployStatus.Failed } arm
               && arm.Message.Contains("No matching distribution found for catboost==1.1"))
        && outcome.Gateway is { BadStatus: DeployStatus.Failed, GoodStatus: DeployStatus.Running, RolloutTime: not null, Client.Non2xx: 0 } act
        && act.BadSmokeTest.StartsWith("failed: HTTP 500", StringComparison.Ordinal) && !act.Client.ByVersion.ContainsKey(act.BadVersion)
        && act.GoodWeights.SequenceEqual(RolloutSteps)
        && outcome.Clusters[GatewayCluster].Applications.Keys.ToHashSet().SetEquals([GatewayLayout.AppName, GatewayLayout.VersionAppName(GatewayModel.AppName, act.GoodVersion)])
        && outcome.Clusters["ray-cluster-py39"].Applications.ContainsKey("iris_classifier-py39-catboost12");
}

/// <summary>Is a RabbitMQ broker answering at this URI? (A short connection attempt, nothing declared.)</summary>
public static class BrokerProbe
{
    public static async Task<bool> IsReachableAsync(Uri uri, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(timeout);
            await using var connection = await RabbitMqEndpoint.Parse(uri).ConnectAsync("mlray-demo-probe", timeout, cts.Token);
            return connection.IsOpen;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return false;
        }
    }
}
