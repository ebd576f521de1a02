using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;

namespace MLRay.Tests.Integration;

/// <summary>
/// No Docker engine runs here, so the .NET images' build stages are replayed from their own instructions: an empty
/// directory stands for the image's root, each COPY copies exactly its sources from the build context (minus
/// .dockerignore), each RUN runs with bash in the WORKDIR with its absolute paths moved under that root. A COPY line
/// missing for a project the host references shows up as restore's "Skipping project … because it was not found" and a
/// failed publish, as it would in <c>docker build</c>.
/// </summary>
public class DockerfileReplayTests(ITestOutputHelper output)
{
    private static readonly string Root = TestPaths.RepoRoot;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromMinutes(15);

    /// <summary>Absolute paths left alone in a RUN line: the host's own system directories, not the image's.</summary>
    private static readonly HashSet<string> SystemRoots = ["bin", "dev", "etc", "lib", "lib64", "proc", "sbin", "sys", "tmp", "usr", "var"];

    private static IEnumerable<string> DockerfilesWhere(Func<DockerStage, bool> firstStage) =>
        Directory.GetFiles(Path.Combine(Root, "docker"), "*.Dockerfile").Order(StringComparer.Ordinal)
            .Where(f => firstStage(Dockerfile.Stages(File.ReadAllText(f))[0]))
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'));

    private static IReadOnlyList<string> DotnetDockerfiles() =>
        [.. DockerfilesWhere(s => s.Image.StartsWith("mcr.microsoft.com/dotnet/sdk", StringComparison.Ordinal))];

    private static IReadOnlyList<string> RayDockerfiles() =>
        [.. DockerfilesWhere(s => s.Image.StartsWith("python:", StringComparison.Ordinal)).Where(f => Path.GetFileName(f).StartsWith("ray-serve-", StringComparison.Ordinal))];

    public static TheoryData<string> DotnetImages() => new(DotnetDockerfiles());

    public static TheoryData<string> RayImages() => new(RayDockerfiles());

    [Fact]
    public void The_replay_covers_every_dotnet_image_and_the_copy_check_every_ray_image()
    {
        Assert.Equal(["docker/mlray.Dockerfile", "docker/receiver.Dockerfile", "docker/worker.Dockerfile"], DotnetDockerfiles());
        Assert.Equal(["docker/ray-serve-py312.Dockerfile", "docker/ray-serve-py39.Dockerfile"], RayDockerfiles());
    }

    [Fact]
    public void The_parser_joins_continuations_skips_comments_and_the_context_honours_dockerignore()
    {
        var instructions = Dockerfile.Instructions("# a comment ending in \\\nFROM x AS build\nRUN a \\\n # inside\n  && b\nCOPY --from=build /app /app\n");
        Assert.Equal(["FROM", "RUN", "COPY"], instructions.Select(i => i.Keyword));
        Assert.Equal("a   && b", instructions[1].Arguments);
        Assert.Equal("build", Dockerfile.Copy(instructions[2]).From);

        var context = new DockerContext(Root);
        Assert.True(File.Exists(Path.Combine(Root, ".dockerignore")));
        foreach (var excluded in new[] { "src/MLRay.Core/bin", "src/MLRay.Core/obj/project.assets.json", "tests/MLRay.Tests.Repository/bin/Release/x.dll", ".git/HEAD", ".mlray/x.json", "serve/mlray_serve/__pycache__/server.cpython-312.pyc" })
            Assert.True(context.IsExcluded(excluded), excluded);
        foreach (var included in new[] { "src/MLRay.Core/MLRay.Core.csproj", "Directory.Build.props", "serve/pyproject.toml", "src/MLRay.Core/Binding.cs" })
            Assert.False(context.IsExcluded(included), included);
        Assert.Equal(["examples/requirements.iris_classifier-py312-catboost12.txt", "examples/requirements.iris_classifier-py39-catboost11.txt", "examples/requirements.iris_classifier-py39-catboost12.txt"],
            context.Resolve("examples/requirements.*.txt"));
    }

    [Theory]
    [MemberData(nameof(DotnetImages))]
    public async Task The_build_stage_replayed_from_its_instructions_restores_and_publishes_the_entrypoint_dll(string dockerfile)
    {
        var stages = Dockerfile.Stages(File.ReadAllText(Path.Combine(Root, dockerfile)));
        var (build, final) = (stages[0], stages[^1]);
        Assert.NotSame(build, final);
        var context = new DockerContext(BuildContext(dockerfile));
        var deadline = Stopwatch.StartNew();
        var fs = Directory.CreateTempSubdirectory("mlray-replay-").FullName; // the build stage's filesystem root
        var log = new StringBuilder();
        try
        {
            var workdir = "/";
            var env = new Dictionary<string, string>();
            foreach (var instruction in build.Instructions)
            {
                switch (instruction.Keyword)
                {
                    case "WORKDIR":
                        workdir = ContainerPath(workdir, instruction.Arguments);
                        Directory.CreateDirectory(HostPath(fs, workdir));
                        break;
                    case "COPY":
                    case "ADD":
                        var copy = Dockerfile.Copy(instruction);
                        if (copy.From is null) Copy(context, copy, instruction, workdir, fs);
                        break;
                    case "ENV":
                    case "ARG":
                        foreach (var (key, value) in Assignments(instruction)) env[key] = value;
                        break;
                    case "RUN":
                        var command = Dockerfile.StripFlags(instruction.Arguments, out _);
                        Assert.False(command.StartsWith('['), $"{dockerfile} {instruction}: exec-form RUN is not replayed");
                        command = RewriteAbsolutePaths(command, fs);
                        var remaining = CaseTimeout - deadline.Elapsed;
                        var (code, text, elapsed) = await Bash(command, HostPath(fs, workdir), env, remaining);
                        log.Append($"$ {instruction}\n{text}\n[exit {(code?.ToString() ?? "none: killed after the timeout")}, {elapsed.TotalSeconds:F1} s]\n");
                        output.WriteLine($"{dockerfile} line {instruction.Line}: RUN exit {code} in {elapsed.TotalSeconds:F1} s");
                        Assert.True(code == 0, $"{dockerfile} {instruction} failed:\n{log}");
                        Assert.False(text.Contains("because it was not found", StringComparison.OrdinalIgnoreCase),
                            $"{dockerfile} {instruction}: restore skipped a referenced project (a COPY line missing?):\n{log}");
                        break;
                }
            }

            // The final stage runs ENTRYPOINT's dll from what it copied out of the build stage.
            var dll = Dockerfile.Entrypoint(final).Single(a => a.EndsWith(".dll", StringComparison.Ordinal));
            var fromBuild = final.Instructions.Where(i => i.Keyword == "COPY").Select(Dockerfile.Copy)
                .Where(c => c.From is { } from && (from == build.Name || from == "0"))
                .Single(c => dll.StartsWith(c.Destination.TrimEnd('/') + "/", StringComparison.Ordinal));
            var built = fromBuild.Sources.Single().TrimEnd('/') + dll[fromBuild.Destination.TrimEnd('/').Length..];
            Assert.True(File.Exists(HostPath(fs, built)), $"{dockerfile}: ENTRYPOINT runs {dll}, but the build stage has no {built}:\n{log}");
            output.WriteLine($"{dockerfile}: {built} built in {deadline.Elapsed.TotalSeconds:F0} s");
        }
        finally
        {
            Directory.Delete(fs, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(RayImages))]
    public void Every_copy_source_of_a_ray_image_is_in_its_build_context(string dockerfile)
    {
        var context = new DockerContext(BuildContext(dockerfile));
        var copies = Dockerfile.Stages(File.ReadAllText(Path.Combine(Root, dockerfile)))
            .SelectMany(s => s.Instructions).Where(i => i.Keyword is "COPY" or "ADD")
            .Select(i => (Instruction: i, Copy: Dockerfile.Copy(i))).Where(c => c.Copy.From is null).ToList();
        Assert.NotEmpty(copies);
        foreach (var (instruction, copy) in copies)
            foreach (var source in copy.Sources)
            {
                var found = context.Resolve(source);
                Assert.True(found.Count > 0, $"{dockerfile} {instruction}: '{source}' is not in the build context {context.Directory} (or .dockerignore excludes it)");
                // A directory must bring something: .dockerignore may leave it empty.
                foreach (var path in found.Where(p => Directory.Exists(context.Full(p))))
                    Assert.True(Directory.EnumerateFiles(context.Full(path), "*", SearchOption.AllDirectories)
                        .Any(f => !context.IsExcluded(Path.GetRelativePath(context.Directory, f).Replace('\\', '/'))), $"{dockerfile} {instruction}: '{source}' brings no file");
            }
    }

    /// <summary>The build context compose gives a Dockerfile (every service that builds it agrees).</summary>
    private static string BuildContext(string dockerfile)
    {
        var composeDir = Path.Combine(Root, "compose");
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(composeDir, "docker-compose.yml"))));
        var services = (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["services"];
        var contexts = services.Children.Values.OfType<YamlMappingNode>()
            .Select(s => s.Children.TryGetValue(new YamlScalarNode("build"), out var b) ? b as YamlMappingNode : null)
            .Where(b => b is not null && ((YamlScalarNode)b["dockerfile"]).Value == dockerfile)
            .Select(b => Path.GetFullPath(Path.Combine(composeDir, ((YamlScalarNode)b!["context"]).Value!)).TrimEnd(Path.DirectorySeparatorChar))
            .Distinct().ToList();
        var context = Assert.Single(contexts);
        Assert.Equal(Root.TrimEnd(Path.DirectorySeparatorChar), context); // as each Dockerfile's header says: build from the repository root
        return context;
    }

    /// <summary>Docker's COPY: a directory source copies its contents; files go into a destination ending in / (or
    /// an existing directory, or when there are several sources), else become the destination.</summary>
    private static void Copy(DockerContext context, DockerCopy copy, DockerInstruction instruction, string workdir, string fs)
    {
        var destination = HostPath(fs, ContainerPath(workdir, copy.Destination));
        var intoDirectory = copy.Destination.EndsWith('/') || copy.Destination is "." or ".." || copy.Sources.Count > 1
            || copy.Sources.Any(s => s.IndexOfAny(['*', '?', '[']) >= 0);
        foreach (var source in copy.Sources)
        {
            Assert.DoesNotContain("://", source);
            var matches = context.Resolve(source);
            Assert.True(matches.Count > 0, $"{instruction}: '{source}' not found in the build context or excluded by .dockerignore");
            foreach (var match in matches)
            {
                var full = context.Full(match);
                if (Directory.Exists(full))
                {
                    context.CopyContents(match, destination);
                    continue;
                }
                var target = intoDirectory || Directory.Exists(destination) ? Path.Combine(destination, Path.GetFileName(full)) : destination;
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(full, target, overwrite: true);
            }
        }
    }

    /// <summary>ENV/ARG's <c>K=V …</c> (or ENV's legacy <c>K V</c>); an ARG without a default sets nothing.</summary>
    private static IEnumerable<(string Key, string Value)> Assignments(DockerInstruction instruction)
    {
        var words = instruction.Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (instruction.Keyword == "ENV" && words.Length > 0 && !words[0].Contains('='))
        {
            yield return (words[0], instruction.Arguments[words[0].Length..].Trim());
            yield break;
        }
        foreach (var word in words.Where(w => w.Contains('=')))
            yield return (word[..word.IndexOf('=')], word[(word.IndexOf('=') + 1)..].Trim('"'));
    }

    /// <summary>A path in the image (absolute, or relative to the WORKDIR), normalised.</summary>
    private static string ContainerPath(string workdir, string path)
    {
        var segments = new List<string>();
        foreach (var segment in (path.StartsWith('/') ? path : workdir + "/" + path).Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == ".") continue;
            if (segment == "..") { if (segments.Count > 0) segments.RemoveAt(segments.Count - 1); }
            else segments.Add(segment);
        }
        return "/" + string.Join('/', segments);
    }

    private static string HostPath(string fs, string containerPath) => Path.Combine(fs, containerPath.TrimStart('/'));

    /// <summary><c>-o /app</c> → <c>-o &lt;fs&gt;/app</c>: absolute paths in a RUN line name the image's filesystem.</summary>
    private static string RewriteAbsolutePaths(string command, string fs) =>
        Regex.Replace(command, @"(?<=^|[\s='""])/(?<first>[A-Za-z0-9._-]+)",
            m => SystemRoots.Contains(m.Groups["first"].Value) ? m.Value : fs + m.Value);

    private static async Task<(int? Code, string Output, TimeSpan Elapsed)> Bash(string command, string workingDir, IReadOnlyDictionary<string, string> env, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("bash") { WorkingDirectory = workingDir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        // dotnet test's own MSBuild variables would steer the nested SDK; the image has none of them.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase) || k.StartsWith("TESTINGPLATFORM", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // No build servers outliving the RUN (they would hold its output open and linger on a shared machine).
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "false";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["UseRazorBuildServer"] = "false";
        foreach (var (key, value) in env) start.Environment[key] = value;

        var text = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout > TimeSpan.Zero ? timeout : TimeSpan.FromSeconds(1));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
            lock (text) return (null, text.ToString(), clock.Elapsed);
        }
        lock (text) return (process.ExitCode, text.ToString(), clock.Elapsed);
    }
}
