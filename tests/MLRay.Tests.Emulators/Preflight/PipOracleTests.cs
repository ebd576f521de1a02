using System.Diagnostics;
using System.Text.RegularExpressions;
using MLRay.Emulators.Seed;
using MLRay.Emulators.PackageIndex;
using MLRay.Preflight;

namespace MLRay.Tests.Preflight;

/// <summary>
/// The machine's own pip is the oracle: the seed's releases written as a PEP 503 <c>file://</c> index with zero-byte
/// stand-ins, then <c>pip download --no-deps</c> per requirement and target. pip's "Processing …/&lt;file&gt;" names its
/// choice (a wheel: ok; an sdist: maybe), its ERROR lines its refusal (no): MLRay's verdict must say the same, word for word.
/// </summary>
public sealed partial class PipOracleTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mlray-pip-oracle", Guid.NewGuid().ToString("N"));

    public PipOracleTests() => PackageIndexEmulator.WriteLocalIndex(_dir, SeedPackages.All);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The Ray images' Pythons (python:3.9.22-slim, python:3.12.11-slim) on Debian bookworm's glibc 2.36.</summary>
    public static TheoryData<string, int, int, string> Targets => new()
    {
        { "cp39 x86_64", 9, 22, "x86_64" }, { "cp39 aarch64", 9, 22, "aarch64" },
        { "cp312 x86_64", 12, 11, "x86_64" }, { "cp312 aarch64", 12, 11, "aarch64" },
    };

    /// <summary>Every pin of examples/requirements.*.txt, plus the clusters' extra pyarrow pin.</summary>
    private static IReadOnlyList<string> SeedRequirements() =>
        [.. SeedModels.All.SelectMany(m => RequirementsFile.Parse(m.Requirements)).Append("pyarrow==19.0.1").Distinct()];

    [GeneratedRegex(@"^Processing \S*?([^/\s]+\.(?:whl|tar\.gz|zip))\s*$", RegexOptions.Multiline)]
    private static partial Regex Processing();

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task MLRays_verdict_is_what_pip_does_on_the_seeds_requirements(string target, int minor, int patch, string arch)
    {
        var platform = new ClusterPlatform(3, minor, patch, arch, LibcFamily.Glibc, 2, 36);
        var requirements = SeedRequirements();
        Assert.True(requirements.Count >= 10, string.Join(", ", requirements));
        using var gate = new SemaphoreSlim(3);
        var outcomes = await Task.WhenAll(requirements.Select(async r =>
        {
            await gate.WaitAsync();
            try { return (Requirement: r, Pip: await PipAsync(r, platform)); }
            finally { gate.Release(); }
        }));

        var kinds = new List<VerdictKind>();
        foreach (var (requirement, pip) in outcomes)
        {
            var project = PipRequirement.Parse(requirement).Project;
            var pageFile = Path.Combine(_dir, "simple", project, "index.html");
            var page = ProjectPage.ParseHtml(project, await File.ReadAllTextAsync(pageFile), new Uri(pageFile));
            var verdict = WheelVerdicts.Judge(requirement, IndexAnswer.Of(page), platform);
            kinds.Add(verdict.Kind);
            var chosen = Processing().Match(pip);
            var because = $"{requirement} on {target}: MLRay says {verdict.Reason}; pip said:\n{pip}";
            switch (verdict.Kind)
            {
                case VerdictKind.Ok:
                case VerdictKind.Maybe:
                    Assert.True(chosen.Success, because);
                    Assert.Equal(verdict.File, chosen.Groups[1].Value);
                    Assert.Equal(verdict.Kind == VerdictKind.Ok, verdict.File!.EndsWith(".whl"));
                    break;
                case VerdictKind.No:
                    Assert.False(chosen.Success, because);
                    var errors = pip.Split('\n').Select(l => l.TrimEnd()).Where(l => l.StartsWith("ERROR: ")).ToList();
                    Assert.Equal(errors, verdict.PipError);
                    break;
                default:
                    Assert.Fail(because);
                    break;
            }
        }
        // The seed's own story shows in the oracle: catboost 1.1 installs only on x86_64 CPython 3.9.
        var catboost11 = kinds[requirements.ToList().IndexOf("catboost==1.1")];
        Assert.Equal(target == "cp39 x86_64" ? VerdictKind.Ok : VerdictKind.No, catboost11);
    }

    /// <summary>pip download for one requirement on the target: every platform spelling (pip adds no aliases itself, §3.7).</summary>
    private async Task<string> PipAsync(string requirement, ClusterPlatform platform)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        foreach (var arg in new[] { "-m", "pip", "download", "--isolated", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
                     "--index-url", new Uri(Path.Combine(_dir, "simple")).AbsoluteUri, "--python-version", platform.PythonFull,
                     "-d", Path.Combine(_dir, "out-" + Guid.NewGuid().ToString("N")) })
            start.ArgumentList.Add(arg);
        foreach (var tag in platform.PlatformTags()) { start.ArgumentList.Add("--platform"); start.ArgumentList.Add(tag); }
        start.ArgumentList.Add(requirement);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 -m pip could not be started: the oracle needs pip on PATH");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout + await stderr;
        Assert.True(output.Contains("Looking in indexes"), $"pip did not run: {output}");
        return output;
    }
}
