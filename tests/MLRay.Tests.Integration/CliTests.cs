using System.Diagnostics;
using System.Text.RegularExpressions;
using MLRay.Emulators.Seed;
using static MLRay.Testing.Programs;

namespace MLRay.Tests.Integration;

/// <summary>The real <c>mlray</c> executable, as a separate process, against the emulators.</summary>
public class CliTests
{
    [Fact]
    public async Task Deploy_exits_non_zero_with_rays_pip_message_for_the_arm_catboost_model()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await RunMlray("deploy", config, "ray-cluster-py39", "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var report = JsonNode.Parse(stdout)!;
        Assert.False((bool)report["succeeded"]!);
        var failed = report["apps"]!.AsArray().Single(a => (string)a!["app"]! == "iris_classifier-py39-catboost11")!;
        Assert.Equal("failed", (string)failed["outcome"]!);
        Assert.Contains("No matching distribution found for catboost==1.1", (string)failed["summary"]!);
        Assert.Equal("running", (string)report["apps"]!.AsArray().Single(a => (string)a!["app"]! == "iris_classifier-py39-catboost12")!["outcome"]!);
    }

    [Fact]
    public async Task Deploy_exits_zero_when_every_model_runs_and_plan_then_shows_nothing_to_do()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await RunMlray("deploy", config, "ray-cluster-py312");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("iris_classifier-py312-catboost12", stdout);

        var (planCode, planOut, _) = await RunMlray("plan", config, "ray-cluster-py312", "--output", "json");
        Assert.Equal(0, planCode);
        Assert.False((bool)JsonNode.Parse(planOut)!["needs_put"]!);
        Assert.Equal(1, world.Ray312.PutCount);
    }

    [Fact]
    public async Task Plan_shows_the_diff_without_applying()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var config = world.WriteConfigFile();
        await world.DeployAsync("ray-cluster-py312");
        world.Mlflow.SetRegisteredModelTag("iris_classifier-py312-catboost12.staging", "ray.num_replicas", "2");

        var (code, stdout, _) = await RunMlray("plan", config, "ray-cluster-py312");

        Assert.Equal(0, code);
        Assert.Contains("~ iris_classifier-py312-catboost12", stdout);
        Assert.Contains("deployments[0].num_replicas: 1 → 2", stdout);
        Assert.Equal(1, world.Ray312.PutCount);
    }

    [Fact]
    public async Task No_wait_returns_after_the_put_without_waiting_for_ray()
    {
        await using var world = await DeployWorld.StartAsync();
        world.Ray312.Options.BuildTime = TimeSpan.FromMinutes(5); // Ray would take far longer than this test
        world.RegisterSeed();

        var (code, stdout, stderr) = await RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312", "--no-wait", "--output", "json");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(1, world.Ray312.PutCount);
        Assert.Equal("pending", (string)JsonNode.Parse(stdout)!["apps"]![0]!["outcome"]!);
    }

    [Fact]
    public async Task Deploys_text_output_names_every_invalid_model_with_its_problems()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Mlflow.SetRegisteredModelTag("iris_classifier-py312-catboost12.staging", "ray.num_replicas", "two");
        world.Mlflow.SetRegisteredModelTag("iris_classifier-py312-catboost12.staging", "ray.ray_actor_options.num_cpus", "-1");

        var (code, stdout, stderr) = await RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("invalid iris_classifier-py312-catboost12.staging version 1", stdout);
        Assert.Contains("ray.num_replicas", stdout);
        Assert.Contains("'two'", stdout);
        Assert.Contains("ray.ray_actor_options.num_cpus", stdout);
        Assert.Contains("Not every selected model is running.", stdout);
    }

    [Fact]
    public async Task Rays_error_text_is_printed_verbatim_with_exit_code_3()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        world.Ray312.Options.FailNextPuts = 1;

        var (code, _, stderr) = await RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py312");

        Assert.Equal(3, code);
        Assert.Contains("error: Ray dashboard of ray-cluster-py312 (ray_clusters[1].dashboard_address = ", stderr);
        Assert.Contains("): answered 500: ", stderr);
        Assert.Contains("Traceback", stderr);
    }

    [Fact]
    public async Task A_config_error_names_the_key_and_contacts_nothing()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();
        File.WriteAllText(config, File.ReadAllText(config).Replace("python_version: '3.9'", "python_version: 'three'"));

        var (code, _, stderr) = await RunMlray("deploy", config, "ray-cluster-py39");

        Assert.Equal(2, code);
        Assert.Contains("ray_clusters[0].python_version", stderr);
        Assert.Empty(world.Mlflow.Requests);
        Assert.Empty(world.Ray39.Requests);
    }

    /// <summary>A python_env.yaml that makes YamlDotNet throw InvalidOperationException, not YamlException (issue 12).</summary>
    [Fact]
    public async Task A_model_whose_python_env_yaml_crashes_the_parser_is_invalid_and_the_others_are_planned()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();
        var broken = SeedModels.All[1] with { AppName = "broken-py39" };
        SeedModels.Register(world.Mlflow, broken, SeedModels.Tags(broken.AppName), "catboost==1.2.8\n",
            new Dictionary<string, string?> { ["python_env.yaml"] = DeployWorld.CrashingPythonEnv });

        var (code, stdout, stderr) = await RunMlray("plan", world.WriteConfigFile(), "ray-cluster-py39", "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var models = JsonNode.Parse(stdout)!["models"]!.AsArray();
        var invalid = models.Single(m => (string)m!["registered_model"]! == "broken-py39.staging")!;
        Assert.Equal("invalid", (string)invalid["outcome"]!);
        var problem = invalid["problems"]!.AsArray().Select(p => (string)p!).Single();
        Assert.Contains("model 'broken-py39.staging' version 1: python_env.yaml", problem);
        Assert.Contains("line 2", problem);
        Assert.Contains(models, m => (string)m!["registered_model"]! == "iris_classifier-py39-catboost12.staging" && (string)m["outcome"]! == "selected");
    }

    [Fact]
    public async Task A_model_with_neither_requirements_txt_nor_conda_yaml_is_invalid_naming_requirements_txt()
    {
        await using var world = await DeployWorld.StartAsync();
        SeedModels.Register(world.Mlflow, SeedModels.All[0], replaceFiles: new Dictionary<string, string?>
        {
            ["requirements.txt"] = null,
            ["conda.yaml"] = null,
        });

        var (code, stdout, stderr) = await RunMlray("plan", world.WriteConfigFile(), "ray-cluster-py312", "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var model = JsonNode.Parse(stdout)!["models"]!.AsArray().Single()!;
        Assert.Equal("invalid", (string)model["outcome"]!);
        Assert.Contains("requirements.txt: not found", (string)model["problems"]![0]!);
    }

    [Fact]
    public async Task A_config_the_yaml_parser_chokes_on_is_a_config_error_naming_file_line_and_problem()
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();
        // The same shape as the crashing python_env.yaml: an unclosed flow sequence followed by another key.
        File.WriteAllText(config, File.ReadAllText(config).Replace("  deploy_timeout: 20s\n- name: ray-cluster-py312",
            "  extra_pip: [pyarrow==19.0.1\n  deploy_timeout: 20s\n- name: ray-cluster-py312"));

        var (code, stdout, stderr) = await RunMlray("plan", config, "ray-cluster-py39");

        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Matches($@"^config error: {Regex.Escape(config)}:\d+:\d+: the '\[' that starts here is never closed\n$", stderr);
        Assert.DoesNotContain("Unhandled exception", stderr);
        Assert.Empty(world.Mlflow.Requests);
    }

    public static TheoryData<string[], string> ArgumentErrors => new()
    {
        { ["plan", "CONFIG"], "usage: mlray plan <config> <cluster>" },     // missing argument
        { ["deploy", "CONFIG", "ray-cluster-py39", "--output", "xml"], "xml" }, // value outside text|json
        { ["status", "CONFIG", "--output", "xml"], "xml" },
        { ["status"], "usage: mlray status <config>" },
        { ["webhook", "register", "CONFIG", "--url"], "--url" },
        { ["deploy", "CONFIG", "ray-cluster-py39", "--no-such-option"], "--no-such-option" },
        { ["undeploy"], "undeploy" },
        { ["demo", "--rabbitmq", "not a uri"], "--rabbitmq must be an amqp://" },
        { ["demo", "--build-seconds", "NaN"], "--build-seconds must be a number of seconds between 0 and 3600" },
        { ["demo", "--build-seconds", "abc"], "--build-seconds must be a number of seconds between 0 and 3600" },
    };

    [Theory]
    [MemberData(nameof(ArgumentErrors))]
    public async Task Argument_errors_exit_2_for_every_command(string[] args, string named)
    {
        await using var world = await DeployWorld.StartAsync();
        var config = world.WriteConfigFile();

        var (code, stdout, stderr) = await RunMlray(args.Select(a => a == "CONFIG" ? config : a).ToArray());

        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.StartsWith("argument error: ", stderr);
        Assert.Contains(named, stderr);
        Assert.Contains("--help' for more", stderr);
        Assert.Empty(world.Mlflow.Requests);
    }

    [Fact]
    public async Task A_dashboard_answering_200_with_a_non_json_page_is_exit_3_with_its_text()
    {
        await using var world = await DeployWorld.StartAsync();
        using var proxy = new WebhookAndStatusCliTests.TinyReceiver(200, "<html><body>Sign in to continue</body></html>");
        var config = world.WriteConfigFile();
        File.WriteAllText(config, File.ReadAllText(config).Replace(world.Ray39.BaseUri.ToString(), new Uri(proxy.Url).GetLeftPart(UriPartial.Authority)));

        var (code, stdout, stderr) = await RunMlray("plan", config, "ray-cluster-py39");

        Assert.True(code == 3, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("response is not Serve's JSON", stderr);
        Assert.Contains("Sign in to continue", stderr);
    }

    [Fact]
    public async Task An_unknown_cluster_is_a_config_error()
    {
        await using var world = await DeployWorld.StartAsync();
        var (code, _, stderr) = await RunMlray("deploy", world.WriteConfigFile(), "ray-cluster-py311");
        Assert.Equal(2, code);
        Assert.Contains("no cluster named 'ray-cluster-py311'", stderr);
    }
}
