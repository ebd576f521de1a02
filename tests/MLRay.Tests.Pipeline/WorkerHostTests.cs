using System.Net;
using MLRay.Pipeline;
using System.Net.Sockets;
using System.Text.RegularExpressions;
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
        var (code, _, stderr) = await Programs.RunProgram(WorkerDll, argument);
        Assert.True(code == 2, $"exit {code}: {stderr}");
        Assert.Contains("argument error", stderr);
        Assert.Contains("usage: mlray-worker", stderr);
    }

    [Fact]
    public async Task Help_exits_0_and_an_invalid_config_exits_2_naming_the_key()
    {
        var (help, stdout, _) = await Programs.RunProgram(WorkerDll, "--help");
        Assert.Equal(0, help);
        Assert.Contains("--cluster", stdout);

        var dir = Directory.CreateTempSubdirectory().FullName;
        var config = Path.Combine(dir, "config.yml");
        File.WriteAllText(config, "ray_clusters: [{name: c, python_version: 'three', dashboard_address: 'http://r:1'}]\nmlflow: {tracking_uri: 'http://m:1'}\n");
        var (code, logs, errors) = await Programs.RunProgram(WorkerDll, "--config", config, "--cluster", "c");
        Assert.True(code == 2, $"exit {code}: {logs}{errors}");
        Assert.Contains("ray_clusters[0].python_version", logs + errors);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task An_invalid_config_is_plain_config_error_lines_on_stderr_one_per_problem_and_exit_2()
    {
        var dir = Directory.CreateTempSubdirectory("mlray-worker-").FullName;
        try
        {
            var config = Path.Combine(dir, "config.yml");
            File.WriteAllText(config, """
                mlflow: {tracking_uri: 'http://m:1', aliass: x}
                ray_clusters:
                - {name: c, python_version: 'three', dashboard_address: 'http://r:1'}
                - {name: d, python_version: '3.9', dashboard_address: 'r:2'}
                """);
            var (code, stdout, stderr) = await Programs.RunProgram(WorkerDll, "--config", config, "--cluster", "c");

            Assert.True(code == 2, $"exit {code}: {stdout}{stderr}");
            Assert.Equal(string.Join("", [
                $"config error: {config}:1:38: mlflow.aliass: unknown key (known here: tracking_uri, model_name_suffix, alias, challenger_alias)\n",
                $"config error: {config}:3:13: ray_clusters[0].python_version: 'three' is not a Python version: write it quoted as '3.9' (any 3.9.x) or '3.9.22' (exact)\n",
                $"config error: {config}:4:36: ray_clusters[1].dashboard_address: 'r:2' is not an http(s) URL\n"]), stderr);
            Assert.DoesNotContain("{KeyPath}", stdout); // no half-filled JSON log event instead
            Assert.DoesNotContain("config error", stdout);

            File.WriteAllText(config, "mlflow:\n\ttracking_uri: http://m:1\nray_clusters: []\n");
            (code, _, stderr) = await Programs.RunProgram(WorkerDll, "--config", config, "--cluster", "c");
            Assert.Equal((2, $"config error: {config}:2:1: a tab character indents this line; YAML allows only spaces\n"), (code, stderr));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task A_worker_whose_probe_port_is_taken_says_so_in_one_line_naming_urls_and_exits_2()
    {
        var vhost = await broker.CreateVhostAsync(); // the worker declares its topology before it listens
        var dir = Directory.CreateTempSubdirectory("mlray-worker-").FullName;
        using var holder = new TcpListener(IPAddress.Loopback, 0); // as a first worker on the default port would
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        try
        {
            var config = Path.Combine(dir, "config.yml");
            File.WriteAllText(config, $"""
                mlflow: {"{"}tracking_uri: 'http://127.0.0.1:9'{"}"}
                rabbitmq: {"{"}uri: '{vhost}'{"}"}
                ray_clusters:
                - {"{"}name: c, python_version: '3.9', dashboard_address: 'http://127.0.0.1:9'{"}"}
                """);
            var (code, stdout, stderr) = await Programs.RunProgram(WorkerDll, "--config", config, "--cluster", "c", "--urls", $"http://127.0.0.1:{port}");

            Assert.True(code == 2, $"exit {code}: {stdout}{stderr}");
            Assert.Equal($"mlray-worker: cannot listen on http://127.0.0.1:{port} (address already in use): " +
                         $"give this process its own --urls{(port < 65535 ? $", e.g. --urls http://127.0.0.1:{port + 1}" : "")}\n", stderr);
            Assert.DoesNotContain("Hosting failed to start", stdout);
            AssertNoException(stdout); // no exception with its stack in the log either

            // The receiver's start-up is the same code (ServiceStartup).
            File.AppendAllText(config, "\nreceiver: {allow_unsigned: true}\n");
            (code, stdout, stderr) = await Programs.RunProgram("mlray-receiver.dll", "--config", config, "--urls", $"http://127.0.0.1:{port}");
            Assert.True(code == 2, $"exit {code}: {stdout}{stderr}");
            Assert.StartsWith($"mlray-receiver: cannot listen on http://127.0.0.1:{port} (address already in use): give this process its own --urls", stderr);
            AssertNoException(stdout);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task A_second_worker_on_the_same_host_without_urls_exits_2_within_10_s_with_one_line_naming_the_port_and_urls()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        using var first = WorkerProcess.Start(world.ConfigPath, ["ray-cluster-py312"], defaultUrls: true);
        await first.WaitReadyAsync();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, stdout, stderr) = await Programs.RunProgram(WorkerDll, "--config", world.ConfigPath, "--cluster", "ray-cluster-py312", "--no-router");
        var took = clock.Elapsed;

        Assert.True(code == 2, $"exit {code}: {stdout}{stderr}");
        Assert.True(took < TimeSpan.FromSeconds(10), $"took {took}");
        Assert.Equal($"mlray-worker: cannot listen on {WorkerProcess.DocumentedDefaultUrls} (address already in use): " +
                     "give this process its own --urls, e.g. --urls http://127.0.0.1:8092\n", stderr);
        AssertNoException(stdout);
        Assert.False(first.Process.HasExited, "the first worker keeps running");
    }

    [Fact]
    public async Task A_worker_alone_re_declares_the_topology_when_its_vhost_is_re_created_and_is_ready_again_within_30_s()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        using var worker = WorkerProcess.Start(world.ConfigPath, ["ray-cluster-py312"], router: true);   // no receiver runs
        await worker.WaitReadyAsync();
        using var http = new HttpClient { BaseAddress = worker.Probes, Timeout = TimeSpan.FromSeconds(5) };
        async Task<HttpStatusCode> ReadyzAsync()
        {
            try { using var r = await http.GetAsync("/readyz"); return r.StatusCode; }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return 0; }
        }

        await broker.DeleteVhostAsync(world.BrokerUri);
        await PipelineWorld.WaitUntil(() => ReadyzAsync().GetAwaiter().GetResult() == HttpStatusCode.ServiceUnavailable, 10, "unready, vhost deleted");
        await broker.RecreateVhostAsync(world.BrokerUri);

        await worker.WaitReadyAsync(seconds: 30);
        Assert.Contains("lost its definitions", worker.Output);   // the worker's own repair, not a restart or a receiver's
        Assert.Contains(PipelineTopology.ClusterQueue("ray-cluster-py312"), await broker.QueueNamesAsync(world.BrokerUri.ToString()));
    }

    [Fact]
    public async Task A_worker_starts_without_the_receivers_secrets()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        // The receiver's secrets from variables this process does not have: the worker never uses them.
        var config = Path.Combine(Path.GetDirectoryName(world.ConfigPath)!, "worker-config.yml");
        File.WriteAllText(config, Regex.Replace(File.ReadAllText(world.ConfigPath), @"webhook_secret_file: .*",
            "webhook_secret_env: MLRAY_TEST_UNSET_WEBHOOK_SECRET\n  ops_token_env: MLRAY_TEST_UNSET_OPS_TOKEN"));
        Assert.NotNull(ConfigLoader.LoadFile(config, DeployWorld.NoEnv).Pipeline.WebhookSecretSource);

        using var worker = WorkerProcess.Start(config, ["ray-cluster-py312"], router: true);
        Assert.Contains("ray-cluster-py312", await worker.WaitReadyAsync());
        Assert.DoesNotContain("MLRAY_TEST_UNSET", worker.Output);
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

        // A registration through the receiver: the process routes and reconciles, and its /metrics shows it. Ray's
        // first answer to the worker is a 503 (retried), which its request metrics must show.
        world.Emulators.Ray312.Options.FailNextGets = 1;
        await world.StartReceiverAsync();
        MLRay.Emulators.Seed.SeedModels.Register(world.Emulators.Mlflow, MLRay.Emulators.Seed.SeedModels.All[0]);
        // Observable gauges (mlray_apps) are sampled on the exporter's schedule, so wait for every name, not the first.
        string[] names = ["mlray_reconciles", "mlray_reconcile_duration", "mlray_routing_decisions", "mlray_apps", "mlray_status_tag_writes", "mlray_ray_puts",
            "mlray_http_request_duration", "mlray_http_request_errors"];
        string metrics = "";
        await PipelineWorld.WaitUntil(() => names.All((metrics = http.GetStringAsync("/metrics").GetAwaiter().GetResult()).Contains),
            seconds: 60, what: "every reconcile metric on /metrics");
        Assert.Matches(@"mlray_ray_puts\w*\{[^}]*cluster=""ray-cluster-py312""[^}]*\} 1", metrics);

        // MLflow and Ray requests by endpoint (a route template), method and status; the 503 also as an error.
        Assert.NotEmpty(Series(metrics, "mlray_http_request_duration", "server=\"ray\"", "endpoint=\"/api/serve/applications/\"", "method=\"GET\"", "status=\"503\""));
        Assert.NotEmpty(Series(metrics, "mlray_http_request_duration", "server=\"ray\"", "endpoint=\"/api/serve/applications/\"", "method=\"PUT\"", "status=\"200\""));
        Assert.NotEmpty(Series(metrics, "mlray_http_request_duration", "server=\"mlflow\"", "endpoint=\"/api/2.0/mlflow/model-versions/search\"", "method=\"GET\"", "status=\"200\""));
        Assert.NotEmpty(Series(metrics, "mlray_http_request_duration", "server=\"mlflow\"", "endpoint=\"/api/2.0/mlflow/model-versions/set-tag\"", "method=\"POST\""));
        Assert.NotEmpty(Series(metrics, "mlray_http_request_duration", "server=\"mlflow\"", "endpoint=\"/api/2.0/mlflow-artifacts/artifacts/{path}\""));
        var errors = Series(metrics, "mlray_http_request_errors", "server=\"ray\"", "endpoint=\"/api/serve/applications/\"", "method=\"GET\"", "status=\"503\"");
        Assert.True(errors.Count == 1 && errors[0].EndsWith(" 1"), "one Ray 503 counted:\n" + string.Join("\n", errors));
        Assert.Empty(Series(metrics, "mlray_http_request_errors", "status=\"200\""));
        // Bounded: no series carries a raw path (a model name, a query string).
        Assert.DoesNotContain(metrics.Split('\n'), l => l.StartsWith("mlray_http_request") && (l.Contains("catboost") || l.Contains('?')));
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

    [Fact]
    public async Task Worker_readyz_names_its_consumers_turns_unready_within_5_seconds_of_losing_the_broker_and_ready_again_when_it_is_back()
    {
        await using var world = await PipelineWorld.StartAsync(broker);
        using var worker = WorkerProcess.Start(world.ConfigPath, ["ray-cluster-py312"], router: true);
        using var http = new HttpClient { BaseAddress = worker.Probes, Timeout = TimeSpan.FromSeconds(4) };
        var body = "";
        HttpStatusCode Ready()
        {
            try
            {
                using var response = http.GetAsync("/readyz").GetAwaiter().GetResult();
                body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                return response.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { body = e.Message; return 0; }
        }
        try
        {
            await PipelineWorld.WaitUntil(() => Ready() == HttpStatusCode.OK, seconds: 60, what: "worker ready at start");
            AssertNamesConsumers(body);

            try
            {
                await broker.StopAppAsync();
                await PipelineWorld.WaitUntil(() => Ready() == HttpStatusCode.ServiceUnavailable, seconds: 5, what: "unready, broker stopped: " + body);
            }
            finally
            {
                await broker.StartAppAsync(); // always: other tests (and agents) share this broker
            }
            await PipelineWorld.WaitUntil(() => Ready() == HttpStatusCode.OK, seconds: 60, what: "ready again: " + body);
            // Ready means consuming again: every receive endpoint restarted (MassTransit says Degraded until then).
            AssertNamesConsumers(body);
            Assert.DoesNotContain("Degraded", body);
            Assert.DoesNotContain("faulted", body);

            await broker.DeleteVhostAsync(world.BrokerUri);
            await PipelineWorld.WaitUntil(() => Ready() == HttpStatusCode.ServiceUnavailable, seconds: 5, what: "unready, vhost deleted: " + body);
            Assert.Contains("\"broker\"", body);
        }
        finally
        {
            worker.Dispose();
        }

        static void AssertNamesConsumers(string body)
        {
            Assert.Contains(MLRay.Pipeline.PipelineTopology.ClusterQueue("ray-cluster-py312"), body);
            Assert.Contains(MLRay.Pipeline.PipelineTopology.RegistryChangesQueue, body);
        }
    }

    /// <summary>The sample lines of <paramref name="metric"/> (any suffix: _bucket, _total…) carrying every one of <paramref name="labels"/>.</summary>
    internal static List<string> Series(string metrics, string metric, params string[] labels) =>
        metrics.Split('\n').Where(l => l.StartsWith(metric) && l.Contains('{') && labels.All(l.Contains)).ToList();

    /// <summary>No log line carries an exception (compact JSON's <c>@x</c>); a failure shows those that do, whole.</summary>
    private static void AssertNoException(string log)
    {
        var lines = log.Split('\n').Where(l => l.Contains("\"@x\"", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 0, "log lines with an exception:\n" + string.Join("\n", lines));
    }
}
