namespace MLRay.Emulators.Seed;

/// <summary>
/// catboost's releases, the one list both emulators serve: the package index publishes their files
/// (<see cref="PackageIndex.SeedPackages"/>) and the emulated Ray's pip names them in its "(from versions: …)" when a
/// catboost pin has no wheel on the node. 1.1 and 1.1.1 ship <c>cp3X-none</c> wheels for x86_64 only and no sdist (the
/// demo's ARM gap: <c>catboost==1.1</c> fails on aarch64); 1.2 onwards adds <c>manylinux2014_aarch64</c>.
/// </summary>
public static class CatboostReleases
{
    /// <summary>A release: its version, the CPython minors it has wheels for (<c>39</c> = cp39), whether those wheels are
    /// tagged <c>cp39-none</c> (before 1.2) rather than <c>cp39-cp39</c>, their platforms, and whether an sdist exists.</summary>
    public sealed record Release(string Version, int[] CPythons, bool NoneAbi, string[] Platforms, bool Sdist);

    private static readonly string[] Old = ["win_amd64", "manylinux1_x86_64", "macosx_10_6_universal2"];
    private static readonly string[] New = ["win_amd64", "manylinux2014_x86_64", "manylinux2014_aarch64", "macosx_11_0_universal2"];

    public static IReadOnlyList<Release> All { get; } =
    [
        new("1.1", [36, 37, 38, 39, 310], NoneAbi: true, Old, Sdist: false),
        new("1.1.1", [37, 38, 39, 310], NoneAbi: true, Old, Sdist: false),
        new("1.2", [37, 38, 39, 310, 311], NoneAbi: false, New, Sdist: true),
        new("1.2.1", [37, 38, 39, 310, 311], NoneAbi: false, New, Sdist: false),
        new("1.2.2", [37, 38, 39, 310, 311], NoneAbi: false, New, Sdist: true),
        new("1.2.3", [37, 38, 39, 310, 311, 312], NoneAbi: false, New, Sdist: true),
        new("1.2.5", [37, 38, 39, 310, 311, 312], NoneAbi: false, New, Sdist: true),
        new("1.2.7", [37, 38, 39, 310, 311, 312], NoneAbi: false, New, Sdist: true),
        new("1.2.8", [38, 39, 310, 311, 312, 313], NoneAbi: false, New, Sdist: true),
    ];

    /// <summary>Every version, oldest first.</summary>
    public static IReadOnlyList<string> Versions { get; } = [.. All.Select(r => r.Version)];

    /// <summary>
    /// The versions pip on a Linux node of <paramref name="architecture"/> (<c>x86_64</c>, <c>aarch64</c>) has a file for
    /// (a wheel for the architecture, or an sdist): its "(from versions: …)". The emulated pip does not filter by Python.
    /// </summary>
    public static IReadOnlyList<string> InstallableOn(string architecture) =>
        [.. All.Where(r => r.Sdist || r.Platforms.Any(p => p.Contains("linux", StringComparison.Ordinal) && p.EndsWith("_" + architecture, StringComparison.Ordinal)))
            .Select(r => r.Version)];
}
