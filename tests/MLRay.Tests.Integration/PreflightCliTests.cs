namespace MLRay.Tests.Integration;

/// <summary><c>mlray plan</c> and <c>mlray deploy</c> with the wheel pre-flight, as separate processes against the emulators.</summary>
public class PreflightCliTests
{
    private const string Arm = "iris_classifier-py39-catboost11.staging";

    [Fact]
    public async Task Plan_as_json_carries_each_verdict_and_names_the_model_that_would_fail()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();

        var (code, stdout, stderr) = await Programs.RunMlray("plan", world.WriteConfigFile(py39Extra: "platform: linux/aarch64\npreflight: block"), "ray-cluster-py39", "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var plan = JsonNode.Parse(stdout)!;
        Assert.Equal("block", (string)plan["preflight"]!["mode"]!);
        var checks = plan["preflight"]!["models"]!.AsArray();
        var arm = checks.Single(c => (string)c!["registered_model"]! == Arm)!;
        Assert.True((bool)arm["would_fail"]!);
        Assert.Equal("CPython 3.9.22, linux/aarch64, glibc 2.36", (string)arm["platform"]!);
        var catboost = arm["requirements"]!.AsArray().Single(r => (string)r!["requirement"]! == "catboost==1.1")!;
        Assert.Equal("no", (string)catboost["verdict"]!);
        Assert.Equal("ERROR: No matching distribution found for catboost==1.1", (string)catboost["pip_error"]!.AsArray()[^1]!);
        Assert.Contains("1.2.8", catboost["working_versions"]!.AsArray().Select(v => (string)v!));
        Assert.Equal(["mlflow==3.1.0", "catboost==1.1", "numpy==1.26.4", "pandas==1.5.3", "scipy==1.13.1"],
            arm["requirements"]!.AsArray().Select(r => (string)r!["requirement"]!));
        var neighbour = checks.Single(c => (string)c!["registered_model"]! == "iris_classifier-py39-catboost12.staging")!;
        Assert.False((bool)neighbour["would_fail"]!);
        Assert.All(neighbour["requirements"]!.AsArray(), r => Assert.Equal("ok", (string)r!["verdict"]!));
        // Blocked: the model is invalid with pip's words, and its app is not in the config a deploy would PUT.
        var model = plan["models"]!.AsArray().Single(m => (string)m!["registered_model"]! == Arm)!;
        Assert.Equal("invalid", (string)model["outcome"]!);
        Assert.Contains(model["problems"]!.AsArray(), p => (string)p! == "ERROR: No matching distribution found for catboost==1.1");
        Assert.DoesNotContain(plan["config"]!["applications"]!.AsArray(), a => (string)a!["name"]! == "iris_classifier-py39-catboost11");
        Assert.Equal(0, world.Ray39.PutCount);
    }

    [Fact]
    public async Task Plan_as_text_says_which_model_would_fail_and_why_in_pips_words()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();

        var (code, stdout, stderr) = await Programs.RunMlray("plan", world.WriteConfigFile(py39Extra: "platform: linux/aarch64\npreflight: warn"), "ray-cluster-py39");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        stdout = System.Text.RegularExpressions.Regex.Replace(stdout, @"\s+", " "); // the console wraps long lines at its width
        Assert.Contains($"{Arm} version 1 would fail on ray-cluster-py39", stdout);
        Assert.Contains("would be deployed and fail in Ray (preflight: warn)", stdout);
        Assert.Contains("ERROR: Could not find a version that satisfies the requirement catboost==1.1 (from versions: 1.2, ", stdout);
        Assert.Contains("ERROR: No matching distribution found for catboost==1.1", stdout);
        Assert.Contains("+ iris_classifier-py39-catboost11", stdout); // warn: still deployed
    }

    [Fact]
    public async Task Deploy_with_block_refuses_the_arm_model_without_a_PUT_of_it_and_deploys_the_rest()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();

        var (code, stdout, stderr) = await Programs.RunMlray("deploy", world.WriteConfigFile(py39Extra: "platform: linux/aarch64\npreflight: block"), "ray-cluster-py39", "--output", "json");

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var report = JsonNode.Parse(stdout)!;
        Assert.Equal("running", (string)report["apps"]!.AsArray().Single(a => (string)a!["app"]! == "iris_classifier-py39-catboost12")!["outcome"]!);
        Assert.DoesNotContain(report["apps"]!.AsArray(), a => (string)a!["app"]! == "iris_classifier-py39-catboost11");
        Assert.All(world.Ray39.PutBodies, b => Assert.DoesNotContain("iris_classifier-py39-catboost11", b));
        Assert.NotEmpty(world.Ray39.PutBodies);
    }

    [Fact]
    public async Task Plan_with_preflight_off_asks_no_index()
    {
        await using var world = await DeployWorld.StartAsync();
        world.RegisterSeed();

        var (code, stdout, stderr) = await Programs.RunMlray("plan", world.WriteConfigFile(py39Extra: "platform: linux/aarch64\npreflight: off"), "ray-cluster-py39");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("Wheel pre-flight: off for this cluster.", stdout);
        Assert.Empty(world.Index.Requests);
    }
}
