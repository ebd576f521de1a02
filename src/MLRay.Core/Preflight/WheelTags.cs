using System.Globalization;
using System.Text.RegularExpressions;

namespace MLRay.Preflight;

public enum LibcFamily { Glibc, Musl }

/// <summary>
/// What a Ray cluster's pip can install: CPython X.Y.Z (free-threaded or not), Linux on one architecture, glibc or musl
/// of a version (contracts/pypi.md §3.1).
/// </summary>
public sealed record ClusterPlatform(int PythonMajor, int PythonMinor, int PythonPatch, string Architecture, LibcFamily Libc,
    int LibcMajor, int LibcMinor, bool FreeThreaded = false)
{
    public string PythonFull => $"{PythonMajor}.{PythonMinor}.{PythonPatch}";

    public override string ToString() =>
        $"CPython {PythonFull}{(FreeThreaded ? " (free-threaded)" : "")}, linux/{Architecture}, {(Libc == LibcFamily.Glibc ? "glibc" : "musl")} {LibcMajor}.{LibcMinor}";

    /// <summary>PEP 600 legacy names: alias → (glibc minor, archs).</summary>
    private static readonly (string Alias, int Minor, string[] Archs)[] LegacyManylinux =
    [
        ("manylinux2014", 17, ["x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"]),
        ("manylinux2010", 12, ["x86_64", "i686"]),
        ("manylinux1", 5, ["x86_64", "i686"]),
    ];

    /// <summary>
    /// packaging's platform list, best first: <c>manylinux_2_g_A</c> down to the floor (2.17; 2.5 on x86_64/i686), each legacy
    /// alias right after its twin, then <c>linux_A</c>; on musl <c>musllinux_1_y_A</c> down to 1.0, then <c>linux_A</c>.
    /// </summary>
    public IReadOnlyList<string> PlatformTags()
    {
        var a = Architecture;
        var tags = new List<string>();
        if (Libc == LibcFamily.Musl)
            for (var minor = LibcMinor; minor >= 0; minor--) tags.Add($"musllinux_{LibcMajor}_{minor}_{a}");
        else if (LibcMajor == 2)
        {
            var floor = a is "x86_64" or "i686" ? 5 : 17;
            for (var minor = LibcMinor; minor >= floor; minor--)
            {
                tags.Add($"manylinux_2_{minor}_{a}");
                foreach (var (alias, m, archs) in LegacyManylinux)
                    if (m == minor && archs.Contains(a)) tags.Add($"{alias}_{a}");
            }
        }
        tags.Add($"linux_{a}");
        return tags;
    }

    /// <summary>packaging's <c>sys_tags()</c> for this interpreter, in preference order (§3.2); 75 for cp39/aarch64/glibc 2.17.</summary>
    public IReadOnlyList<string> SupportedTags()
    {
        var plats = PlatformTags();
        var interp = $"cp{PythonMajor}{PythonMinor}";
        var abi3 = !FreeThreaded && (PythonMajor, PythonMinor).CompareTo((3, 2)) >= 0;
        var tags = new List<string>();
        void All(string i, string abi, IEnumerable<string> ps) => tags.AddRange(ps.Select(p => $"{i}-{abi}-{p}"));
        All(interp, FreeThreaded ? interp + "t" : interp, plats);
        if (abi3) All(interp, "abi3", plats);
        All(interp, "none", plats);
        if (abi3)
            for (var minor = PythonMinor - 1; minor > 1; minor--) All($"cp{PythonMajor}{minor}", "abi3", plats);
        var pyRange = new List<string> { $"py{PythonMajor}{PythonMinor}", $"py{PythonMajor}" };
        for (var minor = PythonMinor - 1; minor >= 0; minor--) pyRange.Add($"py{PythonMajor}{minor}");
        foreach (var py in pyRange) All(py, "none", plats);
        tags.Add($"{interp}-none-any");
        foreach (var py in pyRange) tags.Add($"{py}-none-any");
        return tags;
    }
}

/// <summary>A wheel's name parsed as packaging's <c>parse_wheel_filename</c> does (PEP 427), tags expanded (PEP 425).</summary>
public sealed partial record WheelFilename(string Filename, string Project, Pep440Version Version, (long Number, string Label)? Build, IReadOnlyList<string> Tags)
{
    [GeneratedRegex(@"^[\w\d._]*$")]
    private static partial Regex NamePart();

    [GeneratedRegex(@"^([0-9]+)(.*)$")]
    private static partial Regex BuildPart();

    public static bool TryParse(string filename, out WheelFilename wheel)
    {
        wheel = null!;
        if (!filename.EndsWith(".whl", StringComparison.OrdinalIgnoreCase)) return false;
        var stem = filename[..^4];
        var dashes = stem.Count(c => c == '-');
        if (dashes is not (4 or 5)) return false;
        var parts = stem.Split('-', dashes - 1);
        var name = parts[0];
        if (!NamePart().IsMatch(name) || name.Contains("__")) return false;
        if (!Pep440Version.TryParse(parts[1], out var version)) return false;
        (long, string)? build = null;
        if (dashes == 5)
        {
            var b = BuildPart().Match(parts[2]);
            if (!b.Success || !long.TryParse(b.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return false;
            build = (n, b.Groups[2].Value);
        }
        var tagParts = parts[^1].ToLowerInvariant().Split('-');
        if (tagParts.Length != 3) return false;
        var tags = (from i in tagParts[0].Split('.') from a in tagParts[1].Split('.') from p in tagParts[2].Split('.') select $"{i}-{a}-{p}").ToList();
        wheel = new WheelFilename(filename, PipRequirement.Normalize(name), version, build, tags);
        return true;
    }

    /// <summary>The best (lowest) rank among this wheel's tags in <paramref name="supported"/>, or null when none is supported.</summary>
    public int? Rank(IReadOnlyDictionary<string, int> supported) =>
        Tags.Select(t => supported.TryGetValue(t, out var i) ? i : (int?)null).Where(i => i is not null).Min();
}

/// <summary>An sdist name: <c>.tar.gz</c> or <c>.zip</c>, split at the last <c>-</c>, the prefix being the project (§2.3).</summary>
public static class SdistFilename
{
    public static bool TryParse(string filename, string project, out Pep440Version version)
    {
        version = null!;
        var stem = filename.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) ? filename[..^7]
            : filename.EndsWith(".zip", StringComparison.OrdinalIgnoreCase) ? filename[..^4] : null;
        var dash = stem?.LastIndexOf('-') ?? -1;
        if (stem is null || dash <= 0 || PipRequirement.Normalize(stem[..dash]) != project) return false;
        return Pep440Version.TryParse(stem[(dash + 1)..], out version);
    }
}
