using MLRay.Deploy;
using MLRay.Preflight;

namespace MLRay.Tests.Unit;

/// <summary>The pre-flight's config keys, and the pure gate that turns a blocked verdict into a permanent failure.</summary>
public class PreflightConfigTests
{
    private static readonly DictionaryEnvironment Env = new(new Dictionary<string, string>
    {
        ["MLFLOW_TRACKING_URI"] = "http://localhost:8080",
        ["INDEX_USER"] = "ci",
        ["INDEX_TOKEN"] = "tok-123",
    });

    private static MLRayConfig Load(string clusterKeys, string topLevel = "") => ConfigLoader.Load($"""
        {topLevel}
        ray_clusters:
        - name: c
          python_version: '3.9'
          dashboard_address: http://localhost:8265
        {clusterKeys}
        """, Env);

    [Fact]
    public void Defaults_are_x86_64_bookworms_glibc_block_and_pypi()
    {
        var config = Load("");
        var c = config.Clusters[0];
        Assert.Equal("x86_64", c.Architecture);
        Assert.Equal(new LibcVersion(LibcFamily.Glibc, 2, 36), c.Libc);
        Assert.Equal(PreflightMode.Block, c.Preflight);
        Assert.Equal(new Uri("https://pypi.org/simple/"), config.PackageIndex.Url);
        Assert.Null(config.PackageIndex.Password);
        Assert.Equal(TimeSpan.FromMinutes(10), config.PackageIndex.CacheTtl);
    }

    [Fact]
    public void Platform_libc_preflight_and_a_private_index_with_credentials_from_the_environment_are_read()
    {
        var config = Load("""
              platform: linux/arm64
              libc: musl 1.2
              preflight: warn
            """, """
            package_index:
              url: https://pypi.internal.example/root/simple
              username_env: INDEX_USER
              password_env: INDEX_TOKEN
              cache_ttl: 2m
              max_concurrency: 3
              timeout: 5s
            """);
        var c = config.Clusters[0];
        Assert.Equal("aarch64", c.Architecture);
        Assert.Equal(new LibcVersion(LibcFamily.Musl, 1, 2), c.Libc);
        Assert.Equal(PreflightMode.Warn, c.Preflight);
        var index = config.PackageIndex;
        Assert.Equal(new Uri("https://pypi.internal.example/root/simple/"), index.Url);
        Assert.Equal(("ci", "tok-123"), (index.Username, index.Password));
        Assert.Equal((TimeSpan.FromMinutes(2), 3, TimeSpan.FromSeconds(5)), (index.CacheTtl, index.MaxConcurrency, index.Timeout));
        Assert.DoesNotContain("tok-123", index.ToString());
        Assert.Equal(new Uri("https://mirror.example/simple/"), Load("", "package_index: https://mirror.example/simple").PackageIndex.Url);
    }

    [Theory]
    [InlineData("  platform: windows/x86_64", "ray_clusters[0].platform")]
    [InlineData("  platform: linux/sparc", "ray_clusters[0].platform")]
    [InlineData("  libc: glibc", "ray_clusters[0].libc")]
    [InlineData("  preflight: maybe", "ray_clusters[0].preflight")]
    public void Bad_values_name_their_key(string keys, string path)
    {
        var e = Assert.Throws<ConfigException>(() => Load(keys));
        Assert.Equal(path, e.KeyPath);
    }

    [Fact]
    public void Index_credentials_are_never_taken_from_the_file()
    {
        var e = Assert.Throws<ConfigException>(() => Load("", "package_index:\n  url: https://ci:secret@pypi.internal.example/simple/"));
        Assert.Equal("package_index.url", e.KeyPath);
        Assert.Throws<ConfigException>(() => Load("", "package_index:\n  password_env: NOT_SET"));
    }

    [Fact]
    public void A_major_minor_cluster_is_checked_as_the_models_patch_and_an_exact_one_as_its_own()
    {
        var cluster = Load("  platform: linux/aarch64").Clusters[0];
        Assert.Equal(new ClusterPlatform(3, 9, 22, "aarch64", LibcFamily.Glibc, 2, 36), ModelPreflight.PlatformOf(cluster, "3.9.22"));
        var exact = cluster with { PythonVersion = PythonVersionSpec.Parse("3.9.18") };
        Assert.Equal(18, ModelPreflight.PlatformOf(exact, "3.9.22").PythonPatch);
    }

    private static DesiredState Desired(RayClusterConfig cluster) => new(cluster,
        [
            new ModelOutcome("arm.staging", "1", ModelOutcomeKind.Selected, "arm", "3.9.22", []),
            new ModelOutcome("fine.staging", "4", ModelOutcomeKind.Selected, "fine", "3.9.22", []),
        ],
        [
            new JsonObject { ["name"] = "arm", ["args"] = new JsonObject { ["mlray_model"] = "arm.staging" } },
            new JsonObject { ["name"] = "fine", ["args"] = new JsonObject { ["mlray_model"] = "fine.staging" } },
        ]);

    private static IReadOnlyList<ModelPreflight> Checks(RayClusterConfig cluster)
    {
        var platform = ModelPreflight.PlatformOf(cluster, "3.9.22");
        var catboost = PreflightVerdictTests.Seed("catboost");
        return
        [
            new ModelPreflight("arm.staging", "1", platform, new Uri("https://pypi.org/simple/"), cluster.Preflight,
                [WheelVerdicts.Judge("catboost==1.1", catboost, platform)]),
            new ModelPreflight("fine.staging", "4", platform, new Uri("https://pypi.org/simple/"), cluster.Preflight,
                [WheelVerdicts.Judge("catboost==1.2.8", catboost, platform)]),
        ];
    }

    [Fact]
    public void Block_turns_a_no_into_an_invalid_model_with_pips_lines_and_takes_its_app_out()
    {
        var cluster = Load("  platform: linux/aarch64").Clusters[0];
        var gated = ModelPreflight.Gate(Desired(cluster), Checks(cluster));

        var arm = gated.Models.Single(m => m.RegisteredModel == "arm.staging");
        Assert.Equal(ModelOutcomeKind.Invalid, arm.Kind);
        Assert.StartsWith("pre-flight: pip cannot install catboost==1.1 on CPython 3.9.22, linux/aarch64, glibc 2.36", arm.Problems[0]);
        Assert.Contains("versions that would work here: 1.2, ", arm.Problems[0]);
        Assert.Equal("ERROR: No matching distribution found for catboost==1.1", arm.Problems[^1]);
        Assert.Equal(["fine"], gated.Applications.Select(a => (string)a["name"]!));
        Assert.Contains("arm.staging", gated.KeepAsIs); // what it already runs keeps running
        Assert.Equal(ModelOutcomeKind.Selected, gated.Models.Single(m => m.RegisteredModel == "fine.staging").Kind);
    }

    [Theory]
    [InlineData("warn")]
    [InlineData("off")]
    public void Warn_and_off_leave_the_desired_state_alone(string mode)
    {
        var cluster = Load($"  platform: linux/aarch64\n  preflight: {mode}").Clusters[0];
        var desired = Desired(cluster);
        Assert.Same(desired, ModelPreflight.Gate(desired, Checks(cluster)));
        if (mode == "off") return;
        var tag = Checks(cluster)[0].TagText();
        Assert.StartsWith("warning: pip will fail to install catboost==1.1 on CPython 3.9.22, linux/aarch64, glibc 2.36; deployed anyway", tag);
        Assert.EndsWith("ERROR: No matching distribution found for catboost==1.1", tag);
        Assert.True(Checks(cluster)[1].Clean);
    }
}
