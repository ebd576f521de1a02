using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace MLRay.Tests.Integration;

/// <summary>
/// The README's Getting started, run as written: every line of its <c>```sh getting-started</c> blocks, in order, in one
/// shell at the repository's root, each expected to exit as its <c># exit N</c> comment says (0 without one). Lines
/// ending in <c>&amp;</c> run in the background and are stopped at the end, as a reader's Ctrl+C would.
/// </summary>
[Collection("broker")]
public partial class GettingStartedTests
{
    [GeneratedRegex(@"```sh getting-started\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex Block();

    [GeneratedRegex(@"#\s*exit (\d+)")]
    private static partial Regex ExpectedExit();

    /// <summary>(command, expected exit code, runs in the background) of each line of the README's Getting started.</summary>
    public static IReadOnlyList<(string Command, int Exit, bool Background)> Steps(string readme) =>
    [
        .. Block().Matches(readme).SelectMany(m => m.Groups[1].Value.Split('\n'))
            .Where(line => line.Trim().Length > 0)
            .Select(line =>
            {
                var exit = ExpectedExit().Match(line) is { Success: true } e ? int.Parse(e.Groups[1].Value) : 0;
                // A trailing comment goes; a '#' inside quotes (none in these commands) would not be a comment.
                var command = Regex.Replace(line, @"\s+#[^'""]*$", "").Trim();
                var background = command.EndsWith('&');
                return (background ? command.TrimEnd('&').Trim() : command, exit, background);
            }),
    ];

    [Fact]
    public void The_getting_started_section_comes_first_and_has_the_steps_a_newcomer_needs()
    {
        var readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        Assert.True(readme.IndexOf("## Getting started", StringComparison.Ordinal) < readme.IndexOf("## What MLRay is", StringComparison.Ordinal));
        var commands = Steps(readme).Select(s => s.Command).ToList();
        Assert.Contains(commands, c => c.StartsWith("scripts/install.sh"));
        Assert.Contains(commands, c => c.StartsWith("mlray emulators"));
        foreach (var verb in new[] { "mlray plan", "mlray deploy", "mlray status", "mlray-receiver", "mlray-worker", "mlray webhook register" })
            Assert.Contains(commands, c => c.StartsWith(verb));
        // Two workers on one host, each with its own probe address.
        var urls = commands.Where(c => c.StartsWith("mlray-")).Select(c => Regex.Match(c, @"--urls (\S+)").Groups[1].Value).ToList();
        Assert.Equal(urls.Count, urls.Distinct().Count());
        Assert.DoesNotContain("../shared", readme);
    }

    [Fact]
    public async Task The_readmes_getting_started_commands_succeed_as_written()
    {
        var root = TestPaths.RepoRoot;
        var steps = Steps(await File.ReadAllTextAsync(Path.Combine(root, "README.md")));
        var logs = Directory.CreateTempSubdirectory("mlray-getting-started-").FullName;
        var script = new StringBuilder("set -u\npids=()\ntrap 'kill ${pids[@]+\"${pids[@]}\"} 2>/dev/null; wait 2>/dev/null' EXIT\n");
        for (var i = 0; i < steps.Count; i++)
        {
            var (command, exit, background) = steps[i];
            var quoted = command.Replace("'", "'\\''");
            if (background)
            {
                script.Append($"{command} > '{logs}/step{i}.log' 2>&1 &\npids+=($!)\n");
                continue;
            }
            script.Append($"echo '$ {quoted}'\n{command}\nrc=$?\n")
                  .Append($"if [ $rc -ne {exit} ]; then echo 'STEP FAILED: {quoted} exited '$rc' (the README says {exit})'; ")
                  .Append($"for f in '{logs}'/*.log; do echo \"== $f\"; tail -n 30 \"$f\"; done; exit 1; fi\n");
        }
        script.Append("echo 'ALL STEPS AS WRITTEN'\n");

        var start = new ProcessStartInfo("bash") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script.ToString());
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }
        var output = await stdout + "\n" + await stderr;
        Assert.True(output.Contains("ALL STEPS AS WRITTEN"), output[^Math.Min(output.Length, 12000)..]);
        Assert.Contains("DEAD-LETTERED 1", output);
        Assert.Contains("No matching distribution found for catboost==1.1", output);
    }
}

/// <summary>Small things a newcomer trips over: piped output, help texts.</summary>
public class CliOutputTests
{
    [Fact]
    public async Task Piped_output_is_not_cut_at_80_columns()
    {
        var dir = Directory.CreateTempSubdirectory("mlray-piped-").FullName;
        try
        {
            // A cluster name long enough that an 80-column table would wrap or squeeze it.
            var name = "ray-cluster-py39-with-a-name-long-enough-to-need-a-wide-terminal";
            await File.WriteAllTextAsync(Path.Combine(dir, "config.yml"), $"""
                mlflow:
                  tracking_uri: http://127.0.0.1:9
                ray_clusters:
                - name: {name}
                  python_version: '3.9'
                  dashboard_address: http://127.0.0.1:19
                """);
            var (_, stdout, stderr) = await Programs.RunMlray("status", Path.Combine(dir, "config.yml"));   // stdout is a pipe here
            Assert.Contains(name, stdout);
            Assert.Contains($"error: Ray dashboard of {name} (ray_clusters[0].dashboard_address = http://127.0.0.1:19/): connection refused", stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Dlq_help_and_dlq_list_help_agree_that_the_cluster_is_optional()
    {
        var (_, dlq, _) = await Programs.RunMlray("dlq", "--help");
        var (_, list, _) = await Programs.RunMlray("dlq", "list", "--help");
        Assert.Contains("[<cluster>]", list);
        Assert.Contains("<cluster> is optional", dlq);
    }
}

/// <summary>The first hour's files say what the code does.</summary>
public class FirstHourFileTests
{
    [Fact]
    public void The_receiver_image_example_passes_the_secret_variable_the_configs_name_and_a_broker()
    {
        var dockerfile = File.ReadAllText(TestPaths.RepoFile("docker/receiver.Dockerfile"));
        var variable = Regex.Match(File.ReadAllText(TestPaths.RepoFile("compose/config.yml")), @"webhook_secret_env: (\w+)").Groups[1].Value;
        Assert.Equal("MLRAY_WEBHOOK_SECRET", variable);
        Assert.Contains($"-e {variable}=", dockerfile);
        Assert.Contains("-e RABBITMQ_URI=amqp://", dockerfile);
        Assert.DoesNotContain("MLFLOW_WEBHOOK_SECRET=", dockerfile);
    }

    [Fact]
    public void The_example_config_names_the_receivers_secret_and_loads_without_it_and_its_python_comment_matches_the_loader()
    {
        var text = File.ReadAllText(TestPaths.RepoFile("config.example.yml"));
        var config = ConfigLoader.Load(text, DeployWorld.NoEnv);   // the variable is unset: only the receiver reads it
        Assert.Throws<ConfigException>(() => config.Pipeline.WebhookSecret);
        // The comment says an unquoted 3.10 stays 3.10: so it does.
        Assert.Contains("an unquoted 3.10 stays 3.10", text);
        var unquoted = ConfigLoader.Load("ray_clusters: [{name: a, python_version: 3.10, dashboard_address: 'http://r:1'}]\nmlflow: {tracking_uri: 'http://m:1'}", DeployWorld.NoEnv);
        Assert.Equal("3.10", unquoted.Clusters[0].PythonVersion.ToString());
    }

    [Fact]
    public void Demo_sh_shows_what_it_does_and_the_builds_errors()
    {
        var script = File.ReadAllText(TestPaths.RepoFile("scripts/demo.sh"));
        var build = script.Split('\n').Single(l => l.Contains("dotnet build") && !l.TrimStart().StartsWith("echo"));
        Assert.DoesNotContain("/dev/null", build);
        Assert.Contains("echo \"demo: building the CLI", script);
    }
}
