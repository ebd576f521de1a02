using System.Globalization;
using System.Text.RegularExpressions;

namespace MLRay.Preflight;

/// <summary>A PEP 440 version, compared as packaging's <c>Version</c> does (release zero-padded, pre &lt; final &lt; post, local last).</summary>
public sealed partial class Pep440Version : IComparable<Pep440Version>, IEquatable<Pep440Version>
{
    // packaging's VERSION_PATTERN.
    [GeneratedRegex(@"^\s*v?(?:(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\.[0-9]+)*)(?<pre>[-_\.]?(?<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_\.]?(?<pre_n>[0-9]+)?)?(?<post>(?:-(?<post_n1>[0-9]+))|(?:[-_\.]?(?<post_l>post|rev|r)[-_\.]?(?<post_n2>[0-9]+)?))?(?<dev>[-_\.]?(?<dev_l>dev)[-_\.]?(?<dev_n>[0-9]+)?)?)(?:\+(?<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?\s*$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public int Epoch { get; private init; }
    public IReadOnlyList<long> Release { get; private init; } = [];
    /// <summary>"a", "b" or "rc" and its number.</summary>
    public (string Letter, long Number)? Pre { get; private init; }
    public long? Post { get; private init; }
    public long? Dev { get; private init; }
    /// <summary>Local segments (<c>+cpu</c>), lower-cased; empty when none.</summary>
    public IReadOnlyList<string> Local { get; private init; } = [];

    public bool IsPrerelease => Pre is not null || Dev is not null;
    public bool IsPostrelease => Post is not null;

    public static bool TryParse(string? text, out Pep440Version version)
    {
        version = null!;
        if (text is null) return false;
        var m = Pattern().Match(text);
        if (!m.Success) return false;
        static long Num(Group g) => g.Success ? long.Parse(g.Value, CultureInfo.InvariantCulture) : 0;
        try
        {
            version = new Pep440Version
            {
                Epoch = m.Groups["epoch"].Success ? int.Parse(m.Groups["epoch"].Value, CultureInfo.InvariantCulture) : 0,
                Release = m.Groups["release"].Value.Split('.').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
                Pre = m.Groups["pre"].Success
                    ? (m.Groups["pre_l"].Value.ToLowerInvariant() switch { "alpha" or "a" => "a", "beta" or "b" => "b", _ => "rc" }, Num(m.Groups["pre_n"]))
                    : null,
                Post = m.Groups["post"].Success ? (m.Groups["post_n1"].Success ? Num(m.Groups["post_n1"]) : Num(m.Groups["post_n2"])) : null,
                Dev = m.Groups["dev"].Success ? Num(m.Groups["dev_n"]) : null,
                Local = m.Groups["local"].Success ? m.Groups["local"].Value.ToLowerInvariant().Split('-', '_', '.') : [],
            };
        }
        catch (OverflowException)
        {
            return false;
        }
        return true;
    }

    public static Pep440Version Parse(string text) =>
        TryParse(text, out var v) ? v : throw new FormatException($"'{text}' is not a PEP 440 version");

    /// <summary>The same version without its local label.</summary>
    public Pep440Version Public => Local.Count == 0 ? this : new Pep440Version { Epoch = Epoch, Release = Release, Pre = Pre, Post = Post, Dev = Dev };

    /// <summary>Epoch and release only (<c>1.2rc1</c> → <c>1.2</c>).</summary>
    public Pep440Version Base => new() { Epoch = Epoch, Release = Release };

    public override string ToString()
    {
        var s = (Epoch != 0 ? $"{Epoch}!" : "") + string.Join('.', Release);
        if (Pre is { } pre) s += pre.Letter + pre.Number;
        if (Post is { } post) s += ".post" + post;
        if (Dev is { } dev) s += ".dev" + dev;
        if (Local.Count > 0) s += "+" + string.Join('.', Local);
        return s;
    }

    public int CompareTo(Pep440Version? other)
    {
        if (other is null) return 1;
        var c = Epoch.CompareTo(other.Epoch);
        if (c != 0) return c;
        for (var i = 0; i < Math.Max(Release.Count, other.Release.Count); i++)
        {
            c = (i < Release.Count ? Release[i] : 0).CompareTo(i < other.Release.Count ? other.Release[i] : 0);
            if (c != 0) return c;
        }
        c = PreKey().CompareTo(other.PreKey());
        if (c != 0) return c;
        c = (Post ?? -1).CompareTo(other.Post ?? -1);
        if (c != 0) return c;
        c = (Dev ?? long.MaxValue).CompareTo(other.Dev ?? long.MaxValue);
        if (c != 0) return c;
        return CompareLocal(Local, other.Local);
    }

    /// <summary>A dev release of a final sorts before its pre-releases; a final after them.</summary>
    private (int, long) PreKey() => Pre is { } p ? (p.Letter switch { "a" => 1, "b" => 2, _ => 3 }, p.Number)
        : Post is null && Dev is not null ? (0, 0) : (4, 0);

    private static int CompareLocal(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        for (var i = 0; i < Math.Max(a.Count, b.Count); i++)
        {
            if (i >= a.Count) return -1;
            if (i >= b.Count) return 1;
            var an = long.TryParse(a[i], NumberStyles.None, CultureInfo.InvariantCulture, out var ai);
            var bn = long.TryParse(b[i], NumberStyles.None, CultureInfo.InvariantCulture, out var bi);
            var c = an && bn ? ai.CompareTo(bi) : an ? 1 : bn ? -1 : string.CompareOrdinal(a[i], b[i]);
            if (c != 0) return c;
        }
        return 0;
    }

    public bool Equals(Pep440Version? other) => other is not null && CompareTo(other) == 0;
    public override bool Equals(object? obj) => obj is Pep440Version v && Equals(v);
    public override int GetHashCode() => ToString().TrimEnd('0', '.').GetHashCode(StringComparison.Ordinal);
}

/// <summary>One PEP 440 clause: <c>==1.1</c>, <c>==1.1.*</c>, <c>~=1.2</c>, <c>===1.1</c>, <c>&lt;2</c> …</summary>
public sealed partial record VersionSpecifier(string Operator, string VersionText)
{
    [GeneratedRegex(@"^\s*(===|~=|==|!=|<=|>=|<|>)\s*([^\s,;]+)\s*$")]
    private static partial Regex Pattern();

    public bool IsWildcard => VersionText.EndsWith(".*", StringComparison.Ordinal) && Operator is "==" or "!=";

    /// <summary>The clause's version (null for <c>===</c> of a non-PEP 440 string).</summary>
    public Pep440Version? Version { get; private init; }

    public static bool TryParse(string text, out VersionSpecifier spec)
    {
        spec = null!;
        var m = Pattern().Match(text);
        if (!m.Success) return false;
        var op = m.Groups[1].Value;
        var v = m.Groups[2].Value;
        Pep440Version? parsed = null;
        if (op == "===") { spec = new VersionSpecifier(op, v); return true; }
        var wildcard = v.EndsWith(".*", StringComparison.Ordinal);
        if (wildcard && op is not ("==" or "!=")) return false;
        if (!Pep440Version.TryParse(wildcard ? v[..^2] : v, out parsed)) return false;
        if (wildcard && (parsed.Local.Count > 0 || parsed.Dev is not null)) return false;
        if (op == "~=" && parsed.Release.Count < 2) return false;
        if (parsed.Local.Count > 0 && op is not ("==" or "!=")) return false;
        spec = new VersionSpecifier(op, v) { Version = parsed };
        return true;
    }

    /// <summary>Named a pre-release: pre-releases are then allowed for the whole set (PEP 440).</summary>
    public bool NamesPrerelease => Operator != "!=" && Version is { IsPrerelease: true };

    public bool Contains(Pep440Version candidate)
    {
        var v = Version;
        switch (Operator)
        {
            case "===":
                return string.Equals(candidate.ToString(), VersionText, StringComparison.OrdinalIgnoreCase);
            case "==" when IsWildcard:
                return PrefixMatch(candidate, v!);
            case "!=" when IsWildcard:
                return !PrefixMatch(candidate, v!);
            case "==":
                return (v!.Local.Count == 0 ? candidate.Public : candidate).Equals(v);
            case "!=":
                return !(v!.Local.Count == 0 ? candidate.Public : candidate).Equals(v);
            case "<=":
                return candidate.Public.CompareTo(v) <= 0;
            case ">=":
                return candidate.Public.CompareTo(v) >= 0;
            case "<":
                return candidate.CompareTo(v) < 0
                       && !(!v!.IsPrerelease && candidate.IsPrerelease && candidate.Base.Equals(v.Base));
            case ">":
                return candidate.CompareTo(v) > 0
                       && !(!v!.IsPostrelease && candidate.IsPostrelease && candidate.Base.Equals(v.Base))
                       && !(candidate.Local.Count > 0 && candidate.Public.Equals(v));
            case "~=":
                var prefix = Pep440Version.Parse(string.Join('.', v!.Release.Take(v.Release.Count - 1)));
                return candidate.Public.CompareTo(v) >= 0 && PrefixMatch(candidate, prefix);
            default:
                return false;
        }
    }

    /// <summary><c>==1.1.*</c>: the candidate's release, zero-padded, starts with the clause's (local labels ignored).</summary>
    private static bool PrefixMatch(Pep440Version candidate, Pep440Version prefix)
    {
        if (candidate.Epoch != prefix.Epoch) return false;
        for (var i = 0; i < prefix.Release.Count; i++)
            if ((i < candidate.Release.Count ? candidate.Release[i] : 0) != prefix.Release[i]) return false;
        if (prefix.Pre is { } pre) return candidate.Pre == pre;
        if (prefix.Post is { } post) return candidate.Post == post;
        return true;
    }

    public override string ToString() => Operator + VersionText;
}

/// <summary>A comma-joined set of clauses; empty matches every version.</summary>
public sealed record SpecifierSet(IReadOnlyList<VersionSpecifier> Clauses)
{
    public static readonly SpecifierSet Any = new([]);

    public static bool TryParse(string text, out SpecifierSet set)
    {
        set = Any;
        if (string.IsNullOrWhiteSpace(text)) return true;
        var clauses = new List<VersionSpecifier>();
        foreach (var part in text.Split(','))
        {
            if (!VersionSpecifier.TryParse(part, out var clause)) return false;
            clauses.Add(clause);
        }
        set = new SpecifierSet(clauses);
        return true;
    }

    public static SpecifierSet Parse(string text) =>
        TryParse(text, out var set) ? set : throw new FormatException($"'{text}' is not a PEP 440 specifier");

    /// <summary>Pinned as pip means it for yanked files: <c>===</c>, or <c>==</c> without <c>.*</c>.</summary>
    public bool IsPinned => Clauses.Count == 1 && (Clauses[0].Operator == "===" || Clauses[0] is { Operator: "==", IsWildcard: false });

    public bool AllowsPrereleases => Clauses.Any(c => c.NamesPrerelease);

    /// <summary>Every clause holds (pre-releases aside: see <see cref="Filter"/>).</summary>
    public bool Contains(Pep440Version v) => Clauses.All(c => c.Contains(v));

    /// <summary>
    /// packaging's <c>SpecifierSet.filter(prereleases=None)</c>, as pip uses it: matching versions, pre-releases only when
    /// a clause names one or when nothing but pre-releases match.
    /// </summary>
    public IReadOnlyList<T> Filter<T>(IEnumerable<T> items, Func<T, Pep440Version> version)
    {
        var matching = items.Where(i => Contains(version(i))).ToList();
        if (AllowsPrereleases) return matching;
        var finals = matching.Where(i => !version(i).IsPrerelease).ToList();
        return finals.Count > 0 ? finals : matching;
    }

    /// <summary>Sorted clauses, as packaging prints a set.</summary>
    public override string ToString() => string.Join(',', Clauses.Select(c => c.ToString()).OrderBy(s => s, StringComparer.Ordinal));
}
