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

/// <summary>What the demo ended with: each seed model's status tag on its cluster, and each cluster's apps.</summary>
public sealed record DemoOutcome(
    IReadOnlyDictionary<string, (string Cluster, string Status, string Message)> Models,
    IReadOnlyDictionary<string, ServeInstance> Clusters,
    string Transport)
{
    /// <summary>The second act (RabbitMQ only): the ARM model's dead letter, and its status after ops fixed the cause and replayed it.</summary>
    public (string LetterId, string StatusAfterReplay)? Replay { get; init; }
}

/// <summary>
/// <c>mlray demo</c>: the seed's scenario, event-driven, on emulators over real HTTP. An emulated MLflow sends
/// signed webhooks to a real receiver; the router and one worker per cluster (py39 on aarch64, py312 on x86_64)
/// deploy through RabbitMQ when one is reachable, else MassTransit's in-memory transport. Nobody runs a deploy
/// command: registering the three catboost models ends with two served and the ARM catboost 1.1 one failed with pip's
/// message — predicted by the wheel pre-flight (<c>preflight: warn</c> against an emulated package index, so Ray is
/// still asked) — then, with RabbitMQ, retried, dead-lettered, replayed once the cause is fixed, and RUNNING; all
/// visible in the models' <c>mlray.*</c> tags.
/// </summary>
public sealed class DemoRunner(IAnsiConsole console, string workingDir, TimeSpan buildTime, Uri rabbitMqUri)
{
    private static readonly Dictionary<string, string> ClusterOf = new()
    {
        ["iris_classifier-py312-catboost12.staging"] = "ray-cluster-py312",
        ["iris_classifier-py39-catboost12.staging"] = "ray-cluster-py39",
        ["iris_classifier-py39-catboost11.staging"] = "ray-cluster-py39",
    };

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
        var configPath = Path.Combine(workingDir, "config.yml");
        await File.WriteAllTextAsync(configPath, $"""
            mlray:
              working_dir: {workingDir}
            mlflow:
              tracking_uri: {mlflow.BaseUri}
            rabbitmq:
              uri: {rabbitMqUri}
            receiver:
              webhook_secret_file: {secretFile}
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
            - name: ray-cluster-py312
              python_version: '3.12'
              dashboard_address: {ray312.BaseUri}
              serve_address: {ray312.ServeUri}
              platform: linux/x86_64
              preflight: block
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 60s
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

        console.MarkupLine("A data scientist now registers the seed's three models ([bold].staging[/], tags ray.name, ray.num_replicas=1, num_cpus=0.5, memory=1 GiB)…");
        SeedModels.RegisterAll(mlflow);

        var statuses = await FollowTagsAsync(mlflow, TimeSpan.FromSeconds(90), s => s.Values.All(v => v.Status is "RUNNING" or "FAILED"), ct);
        if (mlflow.GetModelVersionTags("iris_classifier-py39-catboost11.staging", "1").GetValueOrDefault("mlray.ray-cluster-py39.preflight") is { } warned)
            console.MarkupLine($"The wheel pre-flight had warned (preflight: warn, so Ray was asked anyway): {Markup.Escape(RayMessage.Summarize(warned, 1000))}");
        (string, string)? replay = rabbit ? await SecondActAsync(mlflow, ray39, config, configPath, ct) : null;
        if (replay is not null) statuses = await FollowTagsAsync(mlflow, TimeSpan.FromSeconds(5), _ => true, ct);
        else console.MarkupLine("[grey]The second act (dead letters, fixing the cause, replay) needs RabbitMQ: scripts/rabbitmq.sh start[/]");
        var clusters = new Dictionary<string, ServeInstance>();
        foreach (var cluster in config.Clusters)
            clusters[cluster.Name] = await receiver.Services.GetRequiredService<ClusterReconcilers>().Ray(cluster.Name).GetApplicationsAsync(ct);
        await receiver.StopAsync(ct);

        var outcome = new DemoOutcome(statuses, clusters, transport) { Replay = replay };
        WriteSummary(outcome);
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
        Commands.DlqCommands.WriteList(new DeadLetterListing([new ClusterDeadLetters(cluster, letter is null ? [] : [letter])], null));
        if (letter is null) return null;

        console.MarkupLine("Ops fix the cause: the py39 cluster is moved to x86_64 nodes, where catboost 1.1 publishes wheels.");
        ray39.Options.Architecture = "x86_64";
        console.MarkupLine($"[bold]$ mlray dlq replay {Markup.Escape(configPath)} {cluster} --id {letter.Id}[/]");
        var outcome = await operations.ReplayAsync(py39, new LetterSelection { Ids = [letter.Id] }, ct);
        console.MarkupLine($"replayed {outcome.Removed.Count} letter(s); the worker gives {Markup.Escape(arm)} a fresh set of attempts");
        var after = await FollowTagsAsync(mlflow, TimeSpan.FromSeconds(60), s => s[arm].Status == "RUNNING", ct);
        return (letter.Id, after[arm].Status);
    }

    /// <summary>Shows each model's <c>mlray.&lt;cluster&gt;.status</c> tag live until <paramref name="done"/>.</summary>
    private async Task<IReadOnlyDictionary<string, (string Cluster, string Status, string Message)>> FollowTagsAsync(
        MlflowEmulator mlflow, TimeSpan timeout, Func<Dictionary<string, (string Cluster, string Status, string Message)>, bool> done, CancellationToken ct)
    {
        Dictionary<string, (string Cluster, string Status, string Message)> Read() => ClusterOf.ToDictionary(m => m.Key, m =>
        {
            var tags = mlflow.GetModelVersionTags(m.Key, "1");
            return (m.Value,
                tags.GetValueOrDefault($"mlray.{m.Value}.status") ?? "waiting",
                tags.GetValueOrDefault($"mlray.{m.Value}.message") ?? "");
        });
        bool Done(Dictionary<string, (string Cluster, string Status, string Message)> s) => done(s);

        var deadline = DateTime.UtcNow + timeout;
        var state = Read();
        if (!console.Profile.Capabilities.Interactive)
        {
            while (!Done(state) && DateTime.UtcNow < deadline) { await Task.Delay(250, ct); state = Read(); }
            return state;
        }
        await console.Live(TagTable(state)).StartAsync(async live =>
        {
            while (!Done(state) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250, ct);
                state = Read();
                live.UpdateTarget(TagTable(state));
                live.Refresh();
            }
            live.UpdateTarget(new Text(""));
        });
        return state;
    }

    private static Table TagTable(IReadOnlyDictionary<string, (string Cluster, string Status, string Message)> state)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("mlray.* tags on each model version (MLflow UI)")
            .AddColumn("model version").AddColumn("cluster").AddColumn("status");
        foreach (var (model, (cluster, status, _)) in state)
            table.AddRow(Markup.Escape(model + " v1"), cluster, Colour(status));
        return table;
    }

    private static string Colour(string status) => status switch
    {
        "RUNNING" => "[green]RUNNING[/]",
        "FAILED" or "DEPLOY_FAILED" => $"[red]{status}[/]",
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
        foreach (var (model, (cluster, status, message)) in outcome.Models.Where(m => m.Value.Status == "FAILED"))
        {
            console.MarkupLine($"[red]Why {Markup.Escape(model)} is not served on {cluster}[/] (its mlray.{cluster}.message tag, in Ray's words):");
            console.WriteLine(message);
        }
        console.MarkupLine(outcome.Replay is { } replay
            ? $"catboost 1.1 publishes no Linux aarch64 wheel, so pip on the ARM py39 cluster could not install it: retried, dead-lettered (letter {replay.LetterId}), replayed once the cluster ran on x86_64, and now {replay.StatusAfterReplay}. Its neighbour on that cluster ran throughout."
            : "catboost 1.1 publishes no Linux aarch64 wheel, so pip on the ARM py39 cluster cannot install it; the other app on that cluster is unaffected.");
    }

    /// <summary>
    /// The seed's story: two models running, the ARM catboost 1.1 model failed with pip's message — and, with RabbitMQ, the
    /// second act: dead-lettered, replayed after the fix, RUNNING.
    /// </summary>
    public static bool WentAsExpected(DemoOutcome outcome) =>
        outcome.Models.GetValueOrDefault("iris_classifier-py312-catboost12.staging").Status == "RUNNING"
        && outcome.Models.GetValueOrDefault("iris_classifier-py39-catboost12.staging").Status == "RUNNING"
        && (outcome.Replay is { StatusAfterReplay: "RUNNING" }
            || outcome.Models.GetValueOrDefault("iris_classifier-py39-catboost11.staging") is ("ray-cluster-py39", "FAILED", var message)
               && message.Contains("No matching distribution found for catboost==1.1"))
        && outcome.Clusters["ray-cluster-py312"].Applications.Keys.SequenceEqual(["iris_classifier-py312-catboost12"])
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
