using System.Text.RegularExpressions;

namespace MLRay.Preflight;

/// <summary>The PEP 508 marker variables of a Linux CPython cluster.</summary>
public sealed record MarkerEnvironment(IReadOnlyDictionary<string, string> Values)
{
    public static MarkerEnvironment For(ClusterPlatform p) => new(new Dictionary<string, string>
    {
        ["os_name"] = "posix",
        ["sys_platform"] = "linux",
        ["platform_system"] = "Linux",
        ["platform_machine"] = p.Architecture,
        ["platform_python_implementation"] = "CPython",
        ["implementation_name"] = "cpython",
        ["implementation_version"] = p.PythonFull,
        ["python_version"] = $"{p.PythonMajor}.{p.PythonMinor}",
        ["python_full_version"] = p.PythonFull,
        ["platform_release"] = "",
        ["platform_version"] = "",
        ["extra"] = "",
    });
}

/// <summary>A marker could not be read: the pre-flight says so rather than guess.</summary>
public sealed class MarkerException(string message) : Exception(message);

/// <summary>PEP 508 environment markers: <c>and</c>/<c>or</c>, parentheses, version and string comparisons, <c>in</c>.</summary>
public static partial class Markers
{
    [GeneratedRegex(@"\s*(\(|\)|not\s+in\b|in\b|and\b|or\b|===|==|!=|<=|>=|~=|<|>|'[^']*'|""[^""]*""|[A-Za-z_][A-Za-z0-9_.]*)")]
    private static partial Regex Token();

    private static readonly HashSet<string> VersionVariables = ["python_version", "python_full_version", "implementation_version"];

    public static bool Evaluate(string marker, MarkerEnvironment env)
    {
        var tokens = new List<string>();
        var at = 0;
        while (at < marker.Length)
        {
            if (char.IsWhiteSpace(marker[at])) { at++; continue; }
            var m = Token().Match(marker, at);
            if (!m.Success || m.Index != at) throw new MarkerException($"cannot read the marker '{marker}' at '{marker[at..]}'");
            tokens.Add(Regex.Replace(m.Groups[1].Value, @"\s+", " "));
            at = m.Index + m.Length;
        }
        var pos = 0;
        var result = Or(tokens, ref pos, env, marker);
        if (pos != tokens.Count) throw new MarkerException($"cannot read the marker '{marker}'");
        return result;
    }

    private static bool Or(List<string> t, ref int pos, MarkerEnvironment env, string marker)
    {
        var value = And(t, ref pos, env, marker);
        while (pos < t.Count && t[pos] == "or") { pos++; value = And(t, ref pos, env, marker) | value; }
        return value;
    }

    private static bool And(List<string> t, ref int pos, MarkerEnvironment env, string marker)
    {
        var value = Atom(t, ref pos, env, marker);
        while (pos < t.Count && t[pos] == "and") { pos++; value = Atom(t, ref pos, env, marker) & value; }
        return value;
    }

    private static bool Atom(List<string> t, ref int pos, MarkerEnvironment env, string marker)
    {
        if (pos < t.Count && t[pos] == "(")
        {
            pos++;
            var inner = Or(t, ref pos, env, marker);
            if (pos >= t.Count || t[pos] != ")") throw new MarkerException($"unbalanced parentheses in the marker '{marker}'");
            pos++;
            return inner;
        }
        if (pos + 3 > t.Count) throw new MarkerException($"cannot read the marker '{marker}'");
        var (left, leftVar) = Value(t[pos], env, marker);
        var op = t[pos + 1];
        var (right, rightVar) = Value(t[pos + 2], env, marker);
        pos += 3;
        var variable = leftVar ?? rightVar;
        if (op == "in") return right.Contains(left, StringComparison.Ordinal);
        if (op == "not in") return !right.Contains(left, StringComparison.Ordinal);
        if (variable is not null && VersionVariables.Contains(variable)
            && VersionSpecifier.TryParse(op + right, out var spec) && Pep440Version.TryParse(left, out var v))
            return spec.Contains(v);
        return op switch
        {
            "==" or "===" => left == right,
            "!=" => left != right,
            _ when Pep440Version.TryParse(left, out var l) && VersionSpecifier.TryParse(op + right, out var s) => s.Contains(l),
            _ => throw new MarkerException($"'{op}' cannot compare '{left}' with '{right}' in the marker '{marker}'"),
        };
    }

    private static (string Value, string? Variable) Value(string token, MarkerEnvironment env, string marker)
    {
        if (token.Length >= 2 && (token[0] == '\'' || token[0] == '"')) return (token[1..^1], null);
        var name = token.Replace('.', '_');
        return env.Values.TryGetValue(name, out var v) ? (v, name) : throw new MarkerException($"unknown marker variable '{token}' in '{marker}'");
    }
}

/// <summary>One requirement line as pip reads it (PEP 508): name, extras, version clauses, marker.</summary>
public sealed partial record PipRequirement(string Line, string Name, IReadOnlyList<string> Extras, SpecifierSet Specifier, string? Marker, string? Url)
{
    [GeneratedRegex(@"^\s*(?<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[(?<extras>[^\]]*)\])?\s*(?<rest>[^;]*?)\s*(?:;\s*(?<marker>.*?))?\s*$")]
    private static partial Regex Pattern();

    /// <summary>PEP 503: lower case, runs of <c>-_.</c> become one <c>-</c>.</summary>
    public static string Normalize(string name) => NormalizeRuns().Replace(name, "-").ToLowerInvariant();

    [GeneratedRegex("[-_.]+")]
    private static partial Regex NormalizeRuns();

    public string Project => Normalize(Name);

    public static bool TryParse(string line, out PipRequirement requirement)
    {
        requirement = null!;
        var m = Pattern().Match(line);
        if (!m.Success) return false;
        var rest = m.Groups["rest"].Value.Trim();
        var extras = m.Groups["extras"].Success
            ? m.Groups["extras"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];
        string? url = null;
        var spec = SpecifierSet.Any;
        if (rest.StartsWith('@')) url = rest[1..].Trim();
        else
        {
            if (rest.StartsWith('(') && rest.EndsWith(')')) rest = rest[1..^1];
            if (!SpecifierSet.TryParse(rest, out spec)) return false;
        }
        var marker = m.Groups["marker"].Success && m.Groups["marker"].Value.Length > 0 ? m.Groups["marker"].Value : null;
        requirement = new PipRequirement(line.Trim(), m.Groups["name"].Value, extras, spec, marker, url);
        return true;
    }

    public static PipRequirement Parse(string line) =>
        TryParse(line, out var r) ? r : throw new FormatException($"'{line}' is not a PEP 508 requirement");

    /// <summary>The requirement as pip prints it in its errors (packaging's <c>str(Requirement)</c>).</summary>
    public string ForErrors => Name + (Extras.Count > 0 ? $"[{string.Join(',', Extras.Order(StringComparer.Ordinal))}]" : "")
        + Specifier + (Url is not null ? $" @ {Url}" : "") + (Marker is not null ? $"; {Marker}" : "");
}
