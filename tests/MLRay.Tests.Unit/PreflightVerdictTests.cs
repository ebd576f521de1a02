using MLRay.Emulators.PackageIndex;
using MLRay.Preflight;
using static MLRay.Testing.PreflightTargets;

namespace MLRay.Tests.Unit;

/// <summary>Every case of contracts/pypi.md §5, table-driven, on the pure verdict (no I/O).</summary>
public class PreflightVerdictTests
{
    private static readonly ClusterPlatform Cp37X86 = A with { PythonMinor = 7, PythonPatch = 17 };
    private static readonly ClusterPlatform Cp313tX86 = D with { PythonMinor = 13, PythonPatch = 1, FreeThreaded = true };
    private static readonly ClusterPlatform Cp310X86 = A with { PythonMinor = 10, PythonPatch = 14 };

    private static readonly Uri PageUrl = new("https://index.example/simple/p/");

    private static IndexAnswer Page(params PackageFile[] files) =>
        IndexAnswer.Of(new ProjectPage("p", true, [.. files.Select(f => new IndexFile(f.Filename, new Uri(PageUrl, "../../files/" + f.Filename), f.RequiresPython, f.Yanked, f.YankedReason))], []));

    private static IndexAnswer Files(params string[] names) => Page([.. names.Select(n => new PackageFile(n))]);

    internal static IndexAnswer Seed(string project) => IndexAnswer.Of(new ProjectPage(project, true,
        [.. SeedPackages.All[project].Select(f => new IndexFile(f.Filename, new Uri(PageUrl, f.Filename), f.RequiresPython, f.Yanked, f.YankedReason))], []));

    public sealed record Case(string Id, string Requirement, IndexAnswer Answer, ClusterPlatform Target, VerdictKind Expected, string? File = null, bool Warns = false)
    {
        public override string ToString() => $"{Id}: {Requirement} on {Target}";
    }

    private static readonly PackageFile Yanked = new("p-1.0-py3-none-any.whl", Yanked: true, YankedReason: "bad");

    public static TheoryData<Case> Cases => new(
        new Case("1A", "p==1.0", Files("p-1.0-py3-none-any.whl"), A, VerdictKind.Ok, "p-1.0-py3-none-any.whl"),
        new Case("1B", "p==1.0", Files("p-1.0-py3-none-any.whl"), B, VerdictKind.Ok, "p-1.0-py3-none-any.whl"),
        new Case("1C", "p==1.0", Files("p-1.0-py3-none-any.whl"), C, VerdictKind.Ok, "p-1.0-py3-none-any.whl"),
        new Case("1M", "p==1.0", Files("p-1.0-py3-none-any.whl"), M, VerdictKind.Ok, "p-1.0-py3-none-any.whl"),
        new Case("2A", "p==1.0", Files("p-1.0-py2.py3-none-any.whl"), A, VerdictKind.Ok),
        new Case("2M", "p==1.0", Files("p-1.0-py2.py3-none-any.whl"), M, VerdictKind.Ok),
        new Case("3", "p==1.0", Files("p-1.0-cp38-abi3-manylinux2014_x86_64.whl"), D, VerdictKind.Ok),
        new Case("4 cp37", "p==1.0", Files("p-1.0-cp38-abi3-manylinux2014_x86_64.whl"), Cp37X86, VerdictKind.No),
        new Case("4 cp313t", "p==1.0", Files("p-1.0-cp38-abi3-manylinux2014_x86_64.whl"), Cp313tX86, VerdictKind.No),
        new Case("5", "p==1.0", Files("p-1.0-cp39-cp39-manylinux2014_x86_64.whl"), B, VerdictKind.No),
        new Case("6", "p==1.0", Files("p-1.0-cp39-cp39-manylinux2014_x86_64.whl"), Cp310X86, VerdictKind.No),
        new Case("7", "p==1.0", Files("p-1.0-cp39-cp39-manylinux_2_28_aarch64.whl"), B, VerdictKind.No),
        new Case("8 glibc 2.28", "p==1.0", Files("p-1.0-cp39-cp39-manylinux_2_28_aarch64.whl"), B with { LibcMinor = 28 }, VerdictKind.Ok),
        new Case("8 glibc 2.35", "p==1.0", Files("p-1.0-cp39-cp39-manylinux_2_28_aarch64.whl"), B with { LibcMinor = 35 }, VerdictKind.Ok),
        new Case("9", "p==1.0", Files("p-1.0-cp39-cp39-manylinux1_x86_64.whl"), A, VerdictKind.Ok),
        new Case("10", "p==1.0", Files("p-1.0-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"), B, VerdictKind.Ok),
        new Case("11D", "p==1.0", Files("p-1.0-cp312-cp312-musllinux_1_1_x86_64.whl"), D, VerdictKind.No),
        new Case("11M", "p==1.0", Files("p-1.0-cp312-cp312-musllinux_1_1_x86_64.whl"), M, VerdictKind.Ok),
        new Case("12A", "p==1.0", Files("p-1.0-cp39-cp39-linux_x86_64.whl"), A, VerdictKind.Ok, Warns: true),
        new Case("12B", "p==1.0", Files("p-1.0-cp39-cp39-linux_x86_64.whl"), B, VerdictKind.No),
        new Case("13", "p==1.0", Files("p-1.0.tar.gz"), A, VerdictKind.Maybe, "p-1.0.tar.gz"),
        new Case("14", "p==1.0", Files("p-1.0.tar.gz", "p-1.0-cp39-cp39-win_amd64.whl"), A, VerdictKind.Maybe, "p-1.0.tar.gz"),
        new Case("15 ==", "p==1.0", Page(Yanked), A, VerdictKind.Ok, Warns: true),
        new Case("15 ===", "p===1.0", Page(Yanked), A, VerdictKind.Ok, Warns: true),
        new Case("15 >=", "p>=1.0", Page(Yanked), A, VerdictKind.No),
        new Case("15 .*", "p==1.0.*", Page(Yanked), A, VerdictKind.No),
        new Case("16", "p>=1.0", Page(new PackageFile("p-1.0-py3-none-any.whl"), new PackageFile("p-2.0-py3-none-any.whl", Yanked: true)), A, VerdictKind.Ok, "p-1.0-py3-none-any.whl"),
        new Case("17", "p==1.0", Page(new PackageFile("p-1.0-py3-none-any.whl", ">=3.10")), A, VerdictKind.No),
        new Case("18 3.9.18", "p==1.0", Page(new PackageFile("p-1.0-py3-none-any.whl", "<3.9.7")), A, VerdictKind.No),
        new Case("18 3.9.0", "p==1.0", Page(new PackageFile("p-1.0-py3-none-any.whl", "<3.9.7")), A with { PythonPatch = 0 }, VerdictKind.Ok),
        new Case("19", "p==1.0", Page(new PackageFile("p-1.0-py3-none-any.whl", "=>3")), A, VerdictKind.Ok),
        new Case("20", "nosuch==1.0", IndexAnswer.Of(ProjectPage.NotFound("nosuch")), A, VerdictKind.No),
        new Case("21", "p==1.0", IndexAnswer.Unreachable("https://index.example/simple/p/ answered 503"), A, VerdictKind.Unknown),
        new Case("22", "CatBoost[widget]==1.2", Seed("catboost"), A, VerdictKind.Ok, "catboost-1.2-cp39-cp39-manylinux2014_x86_64.whl"),
        new Case("23 1.1.0", "p==1.1", Files("p-1.1.0-py3-none-any.whl"), A, VerdictKind.Ok),
        new Case("23 1.1.1", "p==1.1", Files("p-1.1.1-py3-none-any.whl"), A, VerdictKind.No),
        new Case("23 +cpu", "p==1.1", Files("p-1.1+cpu-py3-none-any.whl"), A, VerdictKind.Ok),
        new Case("24", "p==1.2.1", Files("p-1.2.1.1-py3-none-any.whl"), A, VerdictKind.No),
        new Case("25", "p===1.1", Files("p-1.1.0-py3-none-any.whl"), A, VerdictKind.No),
        new Case("26 ==1.2", "p==1.2", Files("p-1.2rc0-py3-none-any.whl"), A, VerdictKind.No),
        new Case("26 ==1.2rc0", "p==1.2rc0", Files("p-1.2rc0-py3-none-any.whl"), A, VerdictKind.Ok),
        new Case("27", "p==1.0", Files("p-1.0-any.whl", "p-1.0-1-py3-none-any.whl"), A, VerdictKind.Ok, "p-1.0-1-py3-none-any.whl"),
        new Case("31", "catboost==1.1; platform_machine == \"x86_64\"", Seed("catboost"), B, VerdictKind.NotApplicable),
        new Case("31 true on A", "catboost==1.1; platform_machine == \"x86_64\" and python_version < \"3.10\"", Seed("catboost"), A, VerdictKind.Ok),
        new Case("32", "catboost==1.1", Seed("catboost"), B, VerdictKind.No),
        new Case("33", "catboost==1.1", Seed("catboost"), A, VerdictKind.Ok, "catboost-1.1-cp39-none-manylinux1_x86_64.whl"),
        new Case("34 C", "catboost==1.1.1", Seed("catboost"), C, VerdictKind.No),
        new Case("34 D", "catboost==1.1.1", Seed("catboost"), D, VerdictKind.No),
        new Case("35", "catboost==1.2", Seed("catboost"), B, VerdictKind.Ok, "catboost-1.2-cp39-cp39-manylinux2014_aarch64.whl"),
        new Case("36", "catboost==1.2", Seed("catboost"), C, VerdictKind.Maybe, "catboost-1.2.tar.gz"),
        new Case("37", "catboost==1.2.8", Seed("catboost"), C, VerdictKind.Ok, "catboost-1.2.8-cp312-cp312-manylinux2014_aarch64.whl"));

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_verdict_is_what_pip_would_do(Case c)
    {
        var verdict = WheelVerdicts.Judge(c.Requirement, c.Answer, c.Target);
        Assert.Equal(c.Expected, verdict.Kind);
        if (c.File is not null) Assert.Equal(c.File, verdict.File);
        Assert.Equal(c.Warns, verdict.Warnings.Count > 0);
        Assert.Equal(c.Expected == VerdictKind.No, verdict.PipError.Count > 0);
        if (c.Expected == VerdictKind.No)
            Assert.Equal($"ERROR: No matching distribution found for {PipRequirement.Parse(c.Requirement).ForErrors}", verdict.PipError[^1]);
    }

    [Fact]
    public void Case_32_prints_pips_two_lines_with_the_1_2_era_versions_and_names_what_would_work()
    {
        var v = WheelVerdicts.Judge("catboost==1.1", Seed("catboost"), B);
        Assert.Equal(2, v.PipError.Count);
        Assert.StartsWith("ERROR: Could not find a version that satisfies the requirement catboost==1.1 (from versions: 1.2, ", v.PipError[0]);
        var fromVersions = v.PipError[0].Split("(from versions: ")[1].TrimEnd(')').Split(", ");
        Assert.DoesNotContain("1.1", fromVersions);
        Assert.DoesNotContain("1.1.1", fromVersions);
        Assert.Equal("ERROR: No matching distribution found for catboost==1.1", v.PipError[1]);
        Assert.Equal(["1.2", "1.2.1", "1.2.2", "1.2.3", "1.2.5", "1.2.7", "1.2.8"], v.WorkingVersions);
        Assert.Contains("linux/aarch64", v.Reason);
    }

    [Fact]
    public void Case_16_the_yanked_version_still_appears_in_from_versions()
    {
        var page = Page(new PackageFile("p-1.0-py3-none-any.whl"), new PackageFile("p-2.0-py3-none-any.whl", Yanked: true));
        var v = WheelVerdicts.Judge("p>=3", page, A);
        Assert.Equal("ERROR: Could not find a version that satisfies the requirement p>=3 (from versions: 1.0, 2.0)", v.PipError[0]);
        Assert.Equal(["1.0"], WheelVerdicts.Judge("p>=1.0", page, A).WorkingVersions);
    }

    [Fact]
    public void Case_17_pip_first_lists_the_versions_it_ignored_for_their_python()
    {
        var v = WheelVerdicts.Judge("p==1.0", Page(new PackageFile("p-1.0-py3-none-any.whl", ">=3.10"), new PackageFile("p-1.0.tar.gz", ">=3.10")), A);
        Assert.Equal("ERROR: Ignored the following versions that require a different python version: 1.0 Requires-Python >=3.10", v.PipError[0]);
        Assert.Equal("ERROR: Could not find a version that satisfies the requirement p==1.0 (from versions: none)", v.PipError[1]);
    }

    [Fact]
    public void Case_15_a_yanked_pin_warns_in_pips_words()
    {
        var v = WheelVerdicts.Judge("p==1.0", Page(Yanked), A);
        Assert.StartsWith("The candidate selected for download or install is a yanked version: 'p' candidate (version 1.0 at ", Assert.Single(v.Warnings));
        Assert.EndsWith("Reason for being yanked: bad", v.Warnings[0]);
    }

    [Fact]
    public void Case_20_an_unknown_project_has_no_versions()
    {
        var v = WheelVerdicts.Judge("nosuch==1.0", IndexAnswer.Of(ProjectPage.NotFound("nosuch")), A);
        Assert.Equal(["ERROR: Could not find a version that satisfies the requirement nosuch==1.0 (from versions: none)",
            "ERROR: No matching distribution found for nosuch==1.0"], v.PipError);
    }

    [Fact]
    public void Case_21_an_unreachable_index_is_unknown_never_no()
    {
        var v = WheelVerdicts.Judge("p==1.0", IndexAnswer.Unreachable("index down"), A);
        Assert.Equal(VerdictKind.Unknown, v.Kind);
        Assert.Empty(v.PipError);
        Assert.Contains("index down", v.Reason);
    }

    [Fact]
    public void Case_22_extras_are_stripped_and_the_name_normalised_for_the_request()
    {
        var r = PipRequirement.Parse("CatBoost[widget]==1.2");
        Assert.Equal("catboost", r.Project);
        Assert.Equal(["widget"], r.Extras);
        Assert.Equal("scikit-learn-extra", PipRequirement.Normalize("Scikit_Learn.Extra"));
    }

    [Fact]
    public void Case_27_build_tags_parse_and_too_few_dashes_are_skipped()
    {
        Assert.True(WheelFilename.TryParse("p-1.0-1-py3-none-any.whl", out var w));
        Assert.Equal((1L, ""), w.Build);
        Assert.Equal(["py3-none-any"], w.Tags);
        Assert.False(WheelFilename.TryParse("p-1.0-any.whl", out _));
        Assert.True(WheelFilename.TryParse("p-1.0-py2.py3-none-any.whl", out var both));
        Assert.Equal(["py2-none-any", "py3-none-any"], both.Tags);
    }

    [Fact]
    public void Case_28_json_nulls_false_and_unknown_keys_are_ignored()
    {
        var page = ProjectPage.ParseJson("p", """
            {"meta": {"api-version": "1.3", "_last-serial": 123}, "name": "p", "versions": ["1.0"], "unknown": {"x": 1},
             "files": [{"filename": "p-1.0-py3-none-any.whl", "url": "../../files/p-1.0-py3-none-any.whl", "hashes": {},
                        "requires-python": null, "yanked": false, "core-metadata": false, "data-dist-info-metadata": false,
                        "size": 4294967296, "provenance": null, "something-new": [1, 2]},
                       {"filename": "p-0.9.tar.gz", "url": "https://files.example/p-0.9.tar.gz", "hashes": {"sha256": "ab"},
                        "requires-python": ">=3.8", "yanked": "broken build"}]}
            """, PageUrl);
        Assert.Equal(new IndexFile("p-1.0-py3-none-any.whl", new Uri("https://index.example/files/p-1.0-py3-none-any.whl")), page.Files[0]);
        Assert.Equal(new IndexFile("p-0.9.tar.gz", new Uri("https://files.example/p-0.9.tar.gz"), ">=3.8", true, "broken build"), page.Files[1]);
        Assert.Empty(page.Warnings);
    }

    [Fact]
    public void Case_29_an_unknown_major_api_version_fails_and_a_newer_minor_warns()
    {
        Assert.Throws<IndexFormatException>(() => ProjectPage.ParseJson("p", """{"meta": {"api-version": "2.0"}, "files": []}""", PageUrl));
        var page = ProjectPage.ParseJson("p", """{"meta": {"api-version": "1.9"}, "files": []}""", PageUrl);
        Assert.Contains("1.9", Assert.Single(page.Warnings));
        Assert.Throws<IndexFormatException>(() => ProjectPage.ParseHtml("p", """<meta name="pypi:repository-version" content="2.0">""", PageUrl));
    }

    [Fact]
    public void Case_30_html_fallback_reads_empty_data_yanked_escaped_requires_python_and_relative_hrefs()
    {
        var page = ProjectPage.ParseHtml("p", """
            <!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"></head><body>
            <a href="../../files/p-1.0-py3-none-any.whl#sha256=abc" data-requires-python="&gt;=3.10" data-yanked="">p-1.0-py3-none-any.whl</a><br/>
            <a href="https://files.example/p-0.9.tar.gz" data-yanked="broken">p-0.9.tar.gz</a>
            <a href="p-0.8.zip">p-0.8.zip</a>
            </body></html>
            """, PageUrl);
        Assert.Equal(new IndexFile("p-1.0-py3-none-any.whl", new Uri("https://index.example/files/p-1.0-py3-none-any.whl"), ">=3.10", true, null), page.Files[0]);
        Assert.Equal(new IndexFile("p-0.9.tar.gz", new Uri("https://files.example/p-0.9.tar.gz"), null, true, "broken"), page.Files[1]);
        Assert.Equal(new Uri("https://index.example/simple/p/p-0.8.zip"), page.Files[2].Url);
        Assert.False(page.Files[2].Yanked);
    }

    [Fact]
    public void The_cp39_aarch64_glibc_2_17_tag_list_has_pips_75_tags_in_order()
    {
        var tags = B.SupportedTags();
        Assert.Equal(75, tags.Count);
        Assert.Equal(["cp39-cp39-manylinux_2_17_aarch64", "cp39-cp39-manylinux2014_aarch64", "cp39-cp39-linux_aarch64", "cp39-abi3-manylinux_2_17_aarch64"], tags.Take(4));
        Assert.Equal("py30-none-any", tags[^1]);
        Assert.DoesNotContain("cp310-abi3-manylinux2014_aarch64", tags);
        Assert.DoesNotContain(Cp313tX86.SupportedTags(), t => t.Contains("abi3"));
        Assert.Equal(["musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64", "linux_x86_64"], M.PlatformTags());
        Assert.Equal("manylinux1_x86_64", A.PlatformTags()[^2]);
    }

    public static TheoryData<string, string, bool> VersionMatches => new()
    {
        { "==1.1", "1.1.0.0", true }, { "==1.1", "1.1.post1", false }, { "==1.1", "1.1a1", false }, { "==1.1", "1.1.dev1", false },
        { "==1.1.*", "1.1.post1", true }, { "==1.1.*", "1.2", false }, { "==1.1.*", "1.1.1", true },
        { "~=1.2", "1.9", true }, { "~=1.2", "2.0", false }, { "~=1.2.3", "1.2.9", true }, { "~=1.2.3", "1.3", false },
        { "<2", "2.0rc1", false }, { "<2", "1.9", true }, { ">1.0", "1.0.post1", false }, { ">1.0", "1.0.1", true },
        { "!=1.1", "1.1.0", false }, { "!=1.1.*", "1.2", true }, { ">=1.0", "1.0+local", true }, { "===1.1", "1.1", true },
        { "<=1!1.0", "2.0", true }, { "==1.0+cpu", "1.0+cpu", true }, { "==1.0+cpu", "1.0", false },
    };

    [Theory]
    [MemberData(nameof(VersionMatches))]
    public void PEP_440_clauses_match_as_packaging_does(string clause, string version, bool matches) =>
        Assert.Equal(matches, SpecifierSet.Parse(clause).Contains(Pep440Version.Parse(version)));

    public static TheoryData<string, bool> MarkerCases => new()
    {
        { "python_version < \"3.10\"", true }, { "python_version >= '3.10'", false }, { "python_full_version == '3.9.18'", true },
        { "sys_platform == 'win32' or (platform_machine == 'aarch64' and os_name == 'posix')", true },
        { "platform_machine in 'x86_64 aarch64'", true }, { "platform_system != 'Linux'", false }, { "extra == 'test'", false },
        { "'linux' == sys_platform", true }, { "implementation_name == 'cpython' and python_version > '3.8'", true },
    };

    [Theory]
    [MemberData(nameof(MarkerCases))]
    public void Markers_are_evaluated_for_the_cluster(string marker, bool expected) =>
        Assert.Equal(expected, Markers.Evaluate(marker, MarkerEnvironment.For(B)));

    [Fact]
    public void An_unreadable_marker_is_unknown_not_a_guess()
    {
        var v = WheelVerdicts.Judge("p==1.0; platform_arch == 'x'", Files("p-1.0-py3-none-any.whl"), A);
        Assert.Equal(VerdictKind.Unknown, v.Kind);
        Assert.Contains("platform_arch", v.Reason);
    }
}
