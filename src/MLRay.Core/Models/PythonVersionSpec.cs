using System.Text.RegularExpressions;

namespace MLRay.Models;

/// <summary>
/// A Python version as written in config or <c>python_env.yaml</c>: <c>3.9</c> (major.minor) or <c>3.9.22</c> (exact).
/// A cluster spec of major.minor matches any patch; one with a patch matches only that patch (DESIGN invariant 6).
/// </summary>
public sealed partial record PythonVersionSpec(int Major, int Minor, int? Patch)
{
    // [0-9], not \d: \d also matches other scripts' digits, which int parsing refuses.
    [GeneratedRegex(@"^\s*([0-9]{1,9})\.([0-9]{1,9})(?:\.([0-9]{1,9}))?\s*$")]
    private static partial Regex Pattern();

    public static bool TryParse(string? text, out PythonVersionSpec version)
    {
        version = null!;
        if (text is null) return false;
        var m = Pattern().Match(text);
        if (!m.Success) return false;
        version = new PythonVersionSpec(
            int.Parse(m.Groups[1].Value),
            int.Parse(m.Groups[2].Value),
            m.Groups[3].Success ? int.Parse(m.Groups[3].Value) : null);
        return true;
    }

    public static PythonVersionSpec Parse(string text) =>
        TryParse(text, out var v) ? v : throw new FormatException($"'{text}' is not a Python version (expected X.Y or X.Y.Z)");

    /// <summary>True when a model built with <paramref name="model"/> may run on a cluster declared as this spec.</summary>
    public bool Accepts(PythonVersionSpec model) =>
        Major == model.Major && Minor == model.Minor && (Patch is null || Patch == model.Patch);

    /// <summary>The key used to route messages: <c>3.9</c> or <c>3.9.22</c>.</summary>
    public string MajorMinor => $"{Major}.{Minor}";

    public override string ToString() => Patch is null ? $"{Major}.{Minor}" : $"{Major}.{Minor}.{Patch}";
}
