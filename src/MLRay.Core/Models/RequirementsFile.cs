using System.Text.RegularExpressions;

namespace MLRay.Models;

/// <summary><c>requirements.txt</c> → the pip list Ray installs (<c>runtime_env.pip</c>).</summary>
public static partial class RequirementsFile
{
    [GeneratedRegex(@"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(?:[<>=!~;@ ]|$)")]
    private static partial Regex NamePattern();

    /// <summary>
    /// Keeps requirement lines in file order (a stable order keeps Ray's per-spec virtualenv cache hitting);
    /// drops blanks, comments and pip options (<c>-r</c>, <c>-c constraints.txt</c>, <c>--index-url</c>):
    /// those name files or settings that do not exist on the cluster.
    /// </summary>
    public static IReadOnlyList<string> Parse(string text)
    {
        var result = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            var comment = line.IndexOf(" #", StringComparison.Ordinal);
            if (comment >= 0) line = line[..comment].TrimEnd();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith('-')) continue;
            if (!result.Contains(line)) result.Add(line);
        }
        return result;
    }

    /// <summary>The normalised package name of a requirement (<c>Foo_Bar==1</c> → <c>foo-bar</c>), or null if it is not one.</summary>
    public static string? PackageName(string requirement)
    {
        var m = NamePattern().Match(requirement);
        return m.Success ? Preflight.PipRequirement.Normalize(m.Groups[1].Value) : null;
    }

    /// <summary>The model's pins followed by the cluster's extra pins for packages the model does not name (the seed's pyarrow pin).</summary>
    public static IReadOnlyList<string> WithExtraPins(IReadOnlyList<string> model, IReadOnlyList<string> extra)
    {
        var named = model.Select(PackageName).OfType<string>().ToHashSet();
        return [.. model, .. extra.Where(e => PackageName(e) is { } n && !named.Contains(n))];
    }
}
