using System.Net;
using MLRay.Tests.Broker;
using MLRay.Tests.Integration;

namespace MLRay.Tests.Pipeline;

/// <summary>The real <c>mlray-worker</c> process: its arguments, exit codes and probes.</summary>
[Collection("broker")]
public class WorkerHostTests(RabbitMqBroker broker)
{
    private static string WorkerDll => WorkerProcess.Dll;

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--no-router")]
    [InlineData("--cluster")]
    public async Task Argument_errors_exit_2_with_a_usage_line(string argument)
    {
        var (code, _, stderr) = await CliTests.RunProgram(WorkerDll, argument);
        Assert.True(code == 2, $"exit {code}: {stderr}");
        Assert.Contains("argument error", stderr);
        Assert.Contains("usage: mlray-worker", stderr);
    }

    [Fact]
    public async Task Help_exits_0_and_an_invalid_config_exits_2_naming_the_key()
    {
        var (help, stdout, _) = await CliTests.RunProgram(WorkerDll, "--help");
        Assert.Equal(0, help);
        Assert.Contains("--cluster", stdout);

        var dir = Directory.CreateTempSubdirectory().FullName;
        var config = Path.Combine(dir, "config.yml");
        File.WriteAllText(config, "ray_clusters: [{name: c, python_version: 'three', dashboard_address: 'http://r:1'}]\nmlflow: {tracking_uri: 'http://m:1'}\n");
        var (code, logs, errors) = await CliTests.RunProgram(WorkerDll, "--config", config, "--cluster", "c");
        Assert.True(code == 2, $"exit {code}: {logs}{errors}");
        Assert.Contains("ray_clusters[0].python_version", logs + errors);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task A_running_worker_serves_healthz_readyz_with_its_checks_and_metrics_on_loopback()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        using var worker = WorkerProcess.Start(world.ConfigPath, ["ray-cluster-py312"], router: true);
        using var http = new HttpClient { BaseAddress = worker.Probes };
        var ready = await worker.WaitReadyAsync();
        Assert.Contains("\"broker\"", ready);
        Assert.Contains("ray-cluster-py312", ready);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);

        // A registration through the receiver: the process routes and reconciles, and its /metrics shows it.
        await world.StartReceiverAsync();
        MLRay.Emulators.Seed.SeedModels.Register(world.Emulators.Mlflow, MLRay.Emulators.Seed.SeedModels.All[0]);
        // Observable gauges (mlray_apps) are sampled on the exporter's schedule, so wait for every name, not the first.
        string[] names = ["mlray_reconciles", "mlray_reconcile_duration", "mlray_routing_decisions", "mlray_apps", "mlray_status_tag_writes", "mlray_ray_puts"];
        string metrics = "";
        await PipelineWorld.WaitUntil(() => names.All((metrics = http.GetStringAsync("/metrics").GetAwaiter().GetResult()).Contains),
            seconds: 60, what: "every reconcile metric on /metrics");
        Assert.Matches(@"mlray_ray_puts\w*\{[^}]*cluster=""ray-cluster-py312""[^}]*\} 1", metrics);
    }

    [Fact]
    public async Task A_retry_waiting_in_the_broker_is_performed_on_time_after_the_active_worker_process_is_killed()
    {
        await using var world = await PipelineWorld.StartAsync(broker, extraYaml: "retry: {attempts: 2, delays: [5s]}");
        await world.StartWorkerAsync([], router: true);
        await world.StartReceiverAsync();
        var ray = world.Emulators.Ray312;
        ray.Options.MissingWheels.Add(("catboost==9.9", "x86_64"));
        using var first = WorkerProcess.Start(world.ConfigPath, ["ray-cluster-py312"]);
        MLRay.Emulators.Seed.SeedModels.Register(world.Emulators.Mlflow, MLRay.Emulators.Seed.SeedModels.All[0], requirementsOverride: "mlflow==3.1.0\ncatboost==9.9\n");
        // The first process is the only consumer, so it is the active one that fails attempt 1 and schedules the retry.
        await PipelineWorld.WaitUntil(() => world.Emulators.Mlflow.GetModelVersionTags("iris_classifier-py312-catboost12.staging", "1")
            .GetValueOrDefault("mlray.ray-cluster-py312.message")?.Contains("next attempt at") == true, seconds: 60, what: "attempt 1 failed");
        var failedAt = DateTimeOffset.UtcNow;
        using var standby = WorkerProcess.Start(world.ConfigPath, ["ray-cluster-py312"]); // a hot standby (single active consumer)
        await Task.Delay(1000);
        first.Kill(); // SIGKILL: no shutdown, no ack of anything in flight

        await PipelineWorld.WaitUntil(() => ray.Builds.Count(b => b.App == "iris_classifier-py312-catboost12") == 2, seconds: 30, what: "attempt 2 by the standby");
        var after = DateTimeOffset.UtcNow - failedAt;
        Assert.True(after < TimeSpan.FromSeconds(15), $"the retry came {after} after the failure (due after 5 s)");

        // The standby's /metrics counts the install retry it made.
        using var http = new HttpClient { BaseAddress = standby.Probes };
        var metrics = "";
        bool Counted() => (metrics = http.GetStringAsync("/metrics").GetAwaiter().GetResult()).Split('\n')
            .Any(l => l.StartsWith("mlray_retries{") && l.Contains("class=\"install\"") && !l.EndsWith(" 0"));
        try { await PipelineWorld.WaitUntil(Counted, seconds: 20, what: "mlray_retries{class=install} on the standby"); }
        catch (TimeoutException) { Assert.Fail("no install retry counted:\n" + string.Join("\n", metrics.Split('\n').Where(l => l.StartsWith("mlray")))); }
    }
}
