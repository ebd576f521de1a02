using MLRay.Emulators.Seed;

namespace MLRay.Emulators.PackageIndex;

/// <summary>One file of a release on the emulated index: its name and the metadata the Simple API carries with it.</summary>
public sealed record PackageFile(string Filename, string? RequiresPython = null, bool Yanked = false, string? YankedReason = null);

/// <summary>
/// The releases the seed's requirements name (catboost, numpy, pandas, scipy, mlflow, pyarrow), with the real filename
/// patterns of contracts/pypi.md §4: catboost's from <see cref="CatboostReleases"/> (1.1/1.1.1 with <c>cp3X-none</c>
/// wheels for x86_64 only and no sdist, 1.2 onwards with <c>manylinux2014_aarch64</c>); numpy/scipy/pandas with their
/// dual manylinux tags, musllinux and requires-python. Files not seen on a stored PyPI page follow the project's build matrix of that release.
/// </summary>
public static class SeedPackages
{
    private static readonly string[] Dual2014 = ["manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64", "win_amd64", "macosx_11_0_arm64"];

    public static IReadOnlyDictionary<string, IReadOnlyList<PackageFile>> All { get; } = new Dictionary<string, IReadOnlyList<PackageFile>>
    {
        // The releases the emulated Ray's pip lists too (one catalogue for both emulators).
        ["catboost"] =
        [
            .. CatboostReleases.All.SelectMany(r => Wheels("catboost", r.Version, r.CPythons, r.NoneAbi, r.Platforms)
                .Concat(r.Sdist ? [new PackageFile($"catboost-{r.Version}.tar.gz")] : [])),
        ],
        ["numpy"] =
        [
            .. Wheels("numpy", "1.26.4", [39, 310, 311, 312], none: false, [.. Dual2014, "musllinux_1_1_x86_64"], ">=3.9"), new("numpy-1.26.4.tar.gz", ">=3.9"),
            .. Wheels("numpy", "2.0.2", [39, 310, 311, 312], none: false, [.. Dual2014, "musllinux_1_1_x86_64"], ">=3.9"), new("numpy-2.0.2.tar.gz", ">=3.9"),
            .. Wheels("numpy", "2.3.1", [311, 312, 313], none: false,
                ["manylinux_2_27_x86_64.manylinux_2_28_x86_64", "manylinux_2_27_aarch64.manylinux_2_28_aarch64", "musllinux_1_2_x86_64", "win_amd64", "macosx_14_0_arm64"], ">=3.11"),
            new("numpy-2.3.1.tar.gz", ">=3.11"),
        ],
        ["pandas"] =
        [
            .. Wheels("pandas", "1.5.3", [38, 39, 310, 311], none: false, Dual2014, ">=3.8"), new("pandas-1.5.3.tar.gz", ">=3.8"),
            .. Wheels("pandas", "2.3.0", [39, 310, 311, 312, 313], none: false, [.. Dual2014, "musllinux_1_2_x86_64"], ">=3.9"), new("pandas-2.3.0.tar.gz", ">=3.9"),
        ],
        ["scipy"] =
        [
            .. Wheels("scipy", "1.13.1", [39, 310, 311, 312], none: false, [.. Dual2014, "musllinux_1_1_x86_64"], ">=3.9"), new("scipy-1.13.1.tar.gz", ">=3.9"),
            // scipy 1.16 writes its dual tag the other way round (unsorted compressed set, §2.2).
            .. Wheels("scipy", "1.16.0", [311, 312, 313], none: false,
                ["manylinux2014_x86_64.manylinux_2_17_x86_64", "manylinux2014_aarch64.manylinux_2_17_aarch64", "musllinux_1_2_x86_64", "win_amd64"], ">=3.11"),
            new("scipy-1.16.0.tar.gz", ">=3.11"),
        ],
        ["mlflow"] =
        [
            new("mlflow-2.22.0-py3-none-any.whl", ">=3.9"), new("mlflow-2.22.0.tar.gz", ">=3.9"),
            new("mlflow-3.1.0-py3-none-any.whl", ">=3.9"), new("mlflow-3.1.0.tar.gz", ">=3.9"),
        ],
        ["pyarrow"] =
        [
            .. Wheels("pyarrow", "19.0.1", [39, 310, 311, 312, 313], none: false,
                ["manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64", "manylinux_2_28_aarch64", "win_amd64", "macosx_12_0_arm64"], ">=3.9"),
            new("pyarrow-19.0.1.tar.gz", ">=3.9"),
        ],
    };

    /// <summary>One wheel per Python and platform: <c>cp39-none-…</c> (catboost before 1.2) or <c>cp39-cp39-…</c>.</summary>
    public static IEnumerable<PackageFile> Wheels(string project, string version, int[] pythons, bool none, string[] platforms, string? requiresPython = null) =>
        from py in pythons from plat in platforms
        select new PackageFile($"{project}-{version}-cp{py}-{(none ? "none" : $"cp{py}")}-{plat}.whl", requiresPython);
}
