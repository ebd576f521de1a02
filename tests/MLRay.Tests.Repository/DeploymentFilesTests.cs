using System.Diagnostics;
using System.Text.RegularExpressions;
using MLRay.Pipeline;
using YamlDotNet.RepresentationModel;

namespace MLRay.Tests.Integration;

/// <summary>
/// The compose stack, its config, the images and the README are the real deployment: keep them valid although no
/// engine runs here, and keep them agreeing on every port, service, cluster/queue name and variable that must match.
/// </summary>
public class DeploymentFilesTests
{
    private static readonly string Root = TestPaths.RepoRoot;

    private static (int Code, string Out, string Err) Run(string file, string workingDir, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDir };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var variable in EnvExampleVariables()) start.Environment.Remove(variable); // only the env file counts
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start: run scripts/setup.sh");
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output.Result, error);
    }

    private static string NewEnvFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mlray-compose-{Guid.NewGuid():N}.env");
        var (code, _, err) = Run(Path.Combine(Root, "scripts", "compose-env.sh"), Root, "--output", path);
        Assert.True(code == 0, err);
        return path;
    }

    private static Dictionary<string, string> ReadEnv(string path) => File.ReadAllLines(path)
        .Where(l => l.Contains('=') && !l.TrimStart().StartsWith('#'))
        .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);

    private static IReadOnlyList<string> EnvExampleVariables() => [.. ReadEnv(Path.Combine(Root, "compose", ".env.example")).Keys];

    private static (int Code, string Out, string Err) Compose(string envFile, params string[] args) =>
        Run("docker-compose", Path.Combine(Root, "compose"), ["--env-file", envFile, "-f", "docker-compose.yml", .. args]);

    /// <summary>The compose file as docker-compose resolves it (anchors, merges and variables applied).</summary>
    private static YamlMappingNode ResolvedServices()
    {
        var env = NewEnvFile();
        try
        {
            var (code, output, err) = Compose(env, "--profile", "cli", "config");
            Assert.True(code == 0, err);
            var stream = new YamlStream();
            stream.Load(new StringReader(output));
            return (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["services"];
        }
        finally { File.Delete(env); }
    }

    private static YamlNode? Get(YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static IEnumerable<string> Names(YamlNode? map) =>
        map is YamlMappingNode m ? m.Children.Keys.Select(k => ((YamlScalarNode)k).Value!) : [];

    private static string? Env(YamlNode service, string name) => (Get(Get(service, "environment")!, name) as YamlScalarNode)?.Value;

    /// <summary>Published host port of a service's container port (from "host:container" mappings).</summary>
    private static int PublishedPort(YamlNode service, int containerPort) =>
        ((YamlSequenceNode)Get(service, "ports")!).Select(p => p is YamlScalarNode s
                ? s.Value!.Split(':') is var parts ? (Host: int.Parse(parts[^2]), Target: int.Parse(parts[^1])) : default
                : (Host: int.Parse(((YamlScalarNode)Get(p, "published")!).Value!), Target: int.Parse(((YamlScalarNode)Get(p, "target")!).Value!)))
            .Single(p => p.Target == containerPort).Host;

    private static string Dockerfile(YamlNode service) => File.ReadAllText(Path.Combine(Root, ((YamlScalarNode)Get(Get(service, "build")!, "dockerfile")!).Value!));

    private static IReadOnlySet<int> Exposed(string dockerfile) =>
        Regex.Matches(dockerfile, @"^EXPOSE (.+)$", RegexOptions.Multiline).SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(int.Parse).ToHashSet();

    private static MLRayConfig ComposeConfig() => ConfigLoader.LoadFile(Path.Combine(Root, "compose", "config.yml"),
        new DictionaryEnvironment(new Dictionary<string, string> { ["MLRAY_WEBHOOK_SECRET"] = "s" }));

    private static readonly string Readme = File.ReadAllText(Path.Combine(Root, "README.md"));

    [Fact]
    public void The_compose_file_is_valid_with_the_generated_env_and_runs_every_part()
    {
        var env = NewEnvFile();
        try
        {
            var (code, _, err) = Compose(env, "config", "-q");
            Assert.True(code == 0, err);
            var services = Compose(env, "--profile", "cli", "config", "--services").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Superset(new HashSet<string> { "rabbitmq", "mlflow", "minio", "minio-bucket", "ray-head-py39", "ray-head-py312", "receiver",
                "webhook-register", "worker-py39", "worker-py312", "mlray" }, services.ToHashSet());
        }
        finally { File.Delete(env); }
    }

    [Fact]
    public void Without_an_env_file_compose_refuses_to_start_and_says_how_to_make_one()
    {
        var empty = Path.GetTempFileName();
        try
        {
            var (code, _, err) = Compose(empty, "config", "-q");
            Assert.NotEqual(0, code);
            Assert.Contains("run scripts/compose-env.sh", err);
        }
        finally { File.Delete(empty); }
    }

    [Fact]
    public void The_env_script_writes_every_variable_with_fresh_secrets_and_a_fernet_key()
    {
        var first = NewEnvFile();
        var second = NewEnvFile();
        try
        {
            var a = ReadEnv(first);
            var b = ReadEnv(second);
            Assert.Equal(EnvExampleVariables().Order(), a.Keys.Order());
            Assert.All(a, kv => Assert.False(string.IsNullOrWhiteSpace(kv.Value), kv.Key));
            foreach (var secret in new[] { "MLRAY_WEBHOOK_SECRET", "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", "MINIO_ROOT_PASSWORD", "RABBITMQ_PASSWORD" })
                Assert.NotEqual(a[secret], b[secret]);
            var key = a["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"];
            Assert.Matches("^[A-Za-z0-9_-]{43}=$", key); // urlsafe base64, padded
            Assert.Equal(32, Convert.FromBase64String(key.Replace('-', '+').Replace('_', '/')).Length);
            Assert.Equal("600", Convert.ToString((int)File.GetUnixFileMode(first) & 0x1FF, 8));

            var (code, _, err) = Run(Path.Combine(Root, "scripts", "compose-env.sh"), Root, "--output", first);
            Assert.Equal(1, code);
            Assert.Contains("exists", err);
            Assert.Equal(a, ReadEnv(first));
        }
        finally
        {
            File.Delete(first);
            File.Delete(second);
        }
    }

    [Fact]
    public void Every_service_is_health_checked_or_one_shot_and_starts_after_what_it_needs()
    {
        var services = ResolvedServices();
        var oneShot = Names(services).Where(n => (Get(services[n], "restart") as YamlScalarNode)?.Value == "no").ToHashSet();
        Assert.Equal(new HashSet<string> { "minio-bucket", "webhook-register", "mlray" }, oneShot);
        foreach (var name in Names(services).Except(oneShot))
            Assert.True(Get(services[name], "healthcheck") is YamlMappingNode, $"{name} has no healthcheck");

        foreach (var name in Names(services))
            foreach (var dependency in Names(Get(services[name], "depends_on")))
            {
                var condition = ((YamlScalarNode)Get(Get(services[name], "depends_on")!, dependency)!["condition"]).Value;
                Assert.Equal(oneShot.Contains(dependency) ? "service_completed_successfully" : "service_healthy", condition);
            }

        Assert.Contains("receiver", Names(Get(services["webhook-register"], "depends_on")));
        Assert.Contains("minio-bucket", Names(Get(services["mlflow"], "depends_on")));
        foreach (var name in new[] { "receiver", "worker-py39", "worker-py312" })
            Assert.Superset(new HashSet<string> { "rabbitmq", "mlflow" }, Names(Get(services[name], "depends_on")).ToHashSet());
    }

    [Fact]
    public void Each_cluster_of_the_compose_config_has_its_ray_head_worker_queue_ports_and_exact_python()
    {
        var services = ResolvedServices();
        var config = ComposeConfig();
        var workers = Names(services).Where(n => Env(services[n], "MLRAY_CLUSTER") is not null).ToList();
        Assert.Equal(config.Clusters.Select(c => c.Name).Order(), workers.Select(w => Env(services[w], "MLRAY_CLUSTER")!).Order());

        foreach (var cluster in config.Clusters)
        {
            var head = cluster.DashboardAddress.Host;
            Assert.Contains(head, Names(services));
            var dockerfile = Dockerfile(services[head]);
            Assert.Contains(cluster.DashboardAddress.Port, Exposed(dockerfile));
            Assert.Equal(head, cluster.EffectiveServeAddress.Host);
            Assert.Contains(cluster.EffectiveServeAddress.Port, Exposed(dockerfile));
            var python = Regex.Match(dockerfile, @"^FROM python:(\d+\.\d+\.\d+)-", RegexOptions.Multiline).Groups[1].Value;
            Assert.True(cluster.PythonVersion.Accepts(PythonVersionSpec.Parse(python)), $"{head} runs Python '{python}', {cluster.Name} serves {cluster.PythonVersion}");
            Assert.Contains($"RUN test \"$(python -c 'import platform; print(platform.python_version())')\" = \"{python}\"", dockerfile);

            var worker = workers.Single(w => Env(services[w], "MLRAY_CLUSTER") == cluster.Name);
            Assert.Contains(head, Names(Get(services[worker], "depends_on")));
            Assert.Contains(PipelineTopology.ClusterQueue(cluster.Name), Readme);
            Assert.Contains(worker, Readme);

            // The host ports the README and the examples' .http files use for this cluster.
            var tag = "py" + cluster.PythonVersion.MajorMinor.Replace(".", "");
            var dashboardPort = PublishedPort(services[head], cluster.DashboardAddress.Port);
            var servePort = PublishedPort(services[head], cluster.EffectiveServeAddress.Port);
            Assert.Contains($"http://localhost:{dashboardPort}", Readme);
            var requests = Directory.GetFiles(Path.Combine(Root, "examples"), $"iris_classifier-{tag}-*.request.http");
            Assert.NotEmpty(requests);
            foreach (var request in requests)
                Assert.StartsWith($"POST http://localhost:{servePort}/{Path.GetFileName(request).Split(".request")[0]}", File.ReadAllText(request));
        }
    }

    [Fact]
    public void Ray_images_pin_one_ray_version_the_kuberay_default_and_install_mlray_serve()
    {
        var pins = Directory.GetFiles(Path.Combine(Root, "docker"), "ray-serve-py*.Dockerfile").Select(File.ReadAllText)
            .Select(text =>
            {
                Assert.Contains("COPY serve/ /opt/mlray-serve/", text);
                Assert.Matches(@"pip install ""ray\[serve\]==\$\{RAY_VERSION\}"" ""mlflow==\$\{MLFLOW_VERSION\}"" ""boto3[^""]*"" .*/opt/mlray-serve", text);
                return Regex.Match(text, @"^ARG RAY_VERSION=(\S+)$", RegexOptions.Multiline).Groups[1].Value;
            }).ToList();
        Assert.Equal(2, pins.Count);
        Assert.All(pins, pin => Assert.Equal(KubeRaySettings.DefaultRayVersion, pin));
    }

    [Fact]
    public void Mlflow_receiver_and_webhook_agree_on_hosts_ports_and_secrets()
    {
        var services = ResolvedServices();
        var config = ComposeConfig();
        Assert.Equal("mlflow", config.Mlflow.TrackingUri.Host);
        Assert.Contains($"--port {config.Mlflow.TrackingUri.Port}", ((YamlScalarNode)Get(services["mlflow"], "command")!).Value!);
        Assert.Equal(config.Mlflow.TrackingUri.Port, PublishedPort(services["mlflow"], config.Mlflow.TrackingUri.Port));
        Assert.All(config.Clusters, c => Assert.Equal(config.Mlflow.TrackingUri, c.MlflowTrackingUri));

        var receiverFile = Dockerfile(services["receiver"]);
        var port = int.Parse(Regex.Match(receiverFile, @"--urls"", ""http://0\.0\.0\.0:(\d+)""").Groups[1].Value);
        Assert.Contains(port, Exposed(receiverFile));
        Assert.Equal(port, PublishedPort(services["receiver"], port));
        var register = ((YamlSequenceNode)Get(services["webhook-register"], "command")!).Select(n => ((YamlScalarNode)n).Value).ToList();
        Assert.Equal(["webhook", "register", "/config/config.yml", "--url", $"http://receiver:{port}/webhooks/mlflow"], register);
        Assert.Contains($"http://localhost:{port}", Readme);

        // The secret the config names reaches every MLRay process, and the broker URI names the compose broker.
        var secretVariable = Regex.Match(File.ReadAllText(Path.Combine(Root, "compose", "config.yml")), @"webhook_secret_env: (\S+)").Groups[1].Value;
        foreach (var name in new[] { "receiver", "worker-py39", "worker-py312", "webhook-register", "mlray" })
        {
            Assert.False(string.IsNullOrEmpty(Env(services[name], secretVariable)), $"{name} lacks {secretVariable}");
            Assert.Equal("/config/config.yml", Env(services[name], "MLRAY_CONFIG"));
        }
        foreach (var name in new[] { "receiver", "worker-py39", "worker-py312" })
            Assert.Equal("rabbitmq", new Uri(Env(services[name], "RABBITMQ_URI")!).Host);
    }

    [Fact]
    public void Every_variable_compose_uses_is_in_env_example_and_the_readme_and_no_other()
    {
        var compose = File.ReadAllText(Path.Combine(Root, "compose", "docker-compose.yml"));
        var used = Regex.Matches(compose, @"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)").Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Equal(used.Order(), EnvExampleVariables().Order());
        foreach (var variable in used) Assert.Contains(variable, Readme);
        foreach (var service in new[] { "minio", "minio-bucket", "mlflow", "ray-head-py39", "ray-head-py312", "rabbitmq", "receiver", "webhook-register", "mlray" })
            Assert.Contains($"`{service}`", Readme);
    }

    [Fact]
    public void The_webhook_example_registers_the_events_and_url_mlray_webhook_register_uses()
    {
        var text = File.ReadAllText(Path.Combine(Root, "examples", "register-webhook.http"));
        var body = JsonNode.Parse(Regex.Match(text, @"^\{.*?^\}", RegexOptions.Multiline | RegexOptions.Singleline).Value)!;
        Assert.Equal(MLRay.Cli.Commands.WebhookCommands.Events.Select(e => $"{e.Entity}/{e.Action}"),
            body["events"]!.AsArray().Select(e => $"{(string)e!["entity"]!}/{(string)e["action"]!}"));
        var services = ResolvedServices();
        var register = ((YamlSequenceNode)Get(services["webhook-register"], "command")!).Select(n => ((YamlScalarNode)n).Value).ToList();
        Assert.Equal(register[register.IndexOf("--url") + 1], (string)body["url"]!);
        Assert.StartsWith($"POST http://localhost:{PublishedPort(services["mlflow"], 8080)}/api/2.0/mlflow/webhooks", text.Split("\n").First(l => l.StartsWith("POST")));
    }

    [Fact]
    public void Every_dockerfile_passes_dockerfilelint()
    {
        var lint = Path.Combine(Root, "tools", "dockerfilelint", "node_modules", ".bin", "dockerfilelint");
        var files = Directory.GetFiles(Path.Combine(Root, "docker"), "*.Dockerfile").Order().ToArray();
        Assert.Equal(5, files.Length);
        var (code, output, err) = Run(lint, Root, ["-o", "json", .. files]); // exit code = number of issues
        Assert.True(output.Length > 0, $"dockerfilelint printed nothing (exit {code}): {err}");
        var report = JsonNode.Parse(output)!;
        Assert.Equal(files.Length, report["files"]!.AsArray().Count);
        Assert.True((int)report["totalIssues"]! == 0 && code == 0, output);
    }

    /// <summary>The runtimeconfig.json a project's build wrote (the test build also builds the worker, unreferenced).</summary>
    private static string RuntimeConfig(string project, string assembly)
    {
        var copied = Path.Combine(AppContext.BaseDirectory, $"{assembly}.runtimeconfig.json");
        if (File.Exists(copied)) return copied;
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0
        return Path.Combine(Root, project, "bin", configuration, "net10.0", $"{assembly}.runtimeconfig.json");
    }

    [Theory]
    [InlineData("docker/receiver.Dockerfile", "src/MLRay.Receiver", "mlray-receiver")]
    [InlineData("docker/worker.Dockerfile", "src/MLRay.Worker", "mlray-worker")]
    [InlineData("docker/mlray.Dockerfile", "src/MLRay.Cli", "mlray")]
    public void Each_image_publishes_its_project_in_a_multi_stage_build_onto_the_runtime_it_needs(string dockerfile, string project, string assembly)
    {
        var text = File.ReadAllText(Path.Combine(Root, dockerfile));
        Assert.Contains($"dotnet publish {project}", text);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", text);
        Assert.Contains("COPY --from=build /app /app", text);
        Assert.Contains($"\"/app/{assembly}.dll\"", text);
        // Files outside src/ that the project embeds must be in the build context's stage too.
        foreach (Match include in Regex.Matches(File.ReadAllText(Directory.GetFiles(Path.Combine(Root, project), "*.csproj").Single()), @"Include=""\.\./\.\./([^""]+)"""))
            Assert.Contains($"COPY {include.Groups[1].Value} ", text);

        // The final stage must carry every shared framework the app was built against (the worker and the CLI use
        // ASP.NET Core too: Serilog.AspNetCore, the demo's receiver), or `dotnet` refuses to start it.
        var frameworks = JsonNode.Parse(File.ReadAllText(RuntimeConfig(project, assembly)))!["runtimeOptions"]!["frameworks"]!.AsArray()
            .Select(f => (string)f!["name"]!).ToList();
        var runtime = Regex.Matches(text, @"^FROM (\S+)", RegexOptions.Multiline).Last().Groups[1].Value;
        var expected = frameworks.Contains("Microsoft.AspNetCore.App") ? "mcr.microsoft.com/dotnet/aspnet:10.0" : "mcr.microsoft.com/dotnet/runtime:10.0";
        Assert.Equal(expected, runtime);
    }
}
