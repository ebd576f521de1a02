using System.Diagnostics;

namespace MLRay.Tests.Integration;

/// <summary>The compose stack and its config are the real deployment: keep them valid although no engine runs here.</summary>
public class DeploymentFilesTests
{
    private static readonly string Root = TestPaths.RepoRoot;

    private static (int Code, string Out, string Err) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.Combine(Root, "compose") };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["MLRAY_WEBHOOK_SECRET"] = "test-secret";
        start.Environment["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = "test-key";
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start: run scripts/setup.sh");
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, error);
    }

    [Fact]
    public void The_compose_file_is_valid_and_runs_every_part()
    {
        var (code, _, err) = Run("docker-compose", "-f", "docker-compose.yml", "config", "-q");
        Assert.True(code == 0, err);
        var services = Run("docker-compose", "-f", "docker-compose.yml", "config", "--services").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Superset(new HashSet<string> { "rabbitmq", "mlflow", "minio", "ray-head-py39", "ray-head-py312", "receiver", "worker-py39", "worker-py312", "mlray" },
            services.ToHashSet());
    }

    [Fact]
    public void The_compose_config_loads_and_names_every_cluster_the_workers_serve()
    {
        var env = new DictionaryEnvironment(new Dictionary<string, string> { ["MLRAY_WEBHOOK_SECRET"] = "s" });
        var config = ConfigLoader.LoadFile(Path.Combine(Root, "compose", "config.yml"), env);
        var compose = File.ReadAllText(Path.Combine(Root, "compose", "docker-compose.yml"));
        foreach (var cluster in config.Clusters)
            Assert.Contains($"MLRAY_CLUSTER: {cluster.Name}", compose);
        Assert.Equal("s", config.Pipeline.WebhookSecret);
    }

    [Theory]
    [InlineData("docker/receiver.Dockerfile", "src/MLRay.Receiver")]
    [InlineData("docker/worker.Dockerfile", "src/MLRay.Worker")]
    [InlineData("docker/mlray.Dockerfile", "src/MLRay.Cli")]
    public void Each_image_publishes_its_project(string dockerfile, string project)
    {
        var text = File.ReadAllText(Path.Combine(Root, dockerfile));
        Assert.Contains($"dotnet publish {project}", text);
        Assert.True(Directory.Exists(Path.Combine(Root, project)));
    }
}
