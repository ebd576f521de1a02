namespace MLRay.Preflight;

public enum VerdictKind
{
    /// <summary>A wheel fits: pip installs it (perhaps with a warning: a yanked pin, a <c>linux_*</c> wheel).</summary>
    Ok,
    /// <summary>Only an sdist fits: pip will try to build it on the cluster (a compiler and build backend may be missing).</summary>
    Maybe,
    /// <summary>Nothing fits: pip fails with "No matching distribution found".</summary>
    No,
    /// <summary>The check could not run (index unreachable, page unreadable, a requirement it cannot read).</summary>
    Unknown,
    /// <summary>Its marker is false on this cluster: pip ignores the line.</summary>
    NotApplicable,
}

/// <summary>What the index said about one project: its page, or why there is none to read.</summary>
public sealed record IndexAnswer(ProjectPage? Page, string? Failure)
{
    public static IndexAnswer Of(ProjectPage page) => new(page, null);
    public static IndexAnswer Unreachable(string why) => new(null, why);
}

/// <summary>The verdict for one requirement line on one cluster, in pip's terms.</summary>
public sealed record RequirementVerdict(
    string Requirement,
    VerdictKind Kind,
    /// <summary>What pip would pick (a wheel for ok, the sdist for maybe).</summary>
    string? File,
    /// <summary>One line for people: why this verdict.</summary>
    string Reason,
    /// <summary>For no: pip's own error lines (§3.8), "Ignored the following versions…" first when pip prints it.</summary>
    IReadOnlyList<string> PipError,
    /// <summary>Versions with a wheel this cluster can install (not yanked), oldest first.</summary>
    IReadOnlyList<string> WorkingVersions,
    IReadOnlyList<string> Warnings)
{
    public string Label => Kind switch { VerdictKind.NotApplicable => "not applicable", var k => k.ToString().ToLowerInvariant() };
}

/// <summary>
/// Pure: one requirement, the project's index page and the cluster's platform → pip's decision (contracts/pypi.md §0):
/// marker, files of the project, tags (before requires-python, as pip's link evaluator does), requires-python on the full
/// X.Y.Z, the specifier with PEP 440's pre-release rule, the yanked rule, then pip's preference among what is left.
/// </summary>
public static class WheelVerdicts
{
    private sealed record Candidate(IndexFile File, Pep440Version Version, int? Rank, (long, string)? Build, WheelFilename? Wheel);

    /// <summary>Null when the requirement applies on this cluster; else the verdict that it does not (or cannot be read).</summary>
    public static RequirementVerdict? Applicability(string line, ClusterPlatform platform, out PipRequirement requirement)
    {
        if (!PipRequirement.TryParse(line, out requirement))
            return Verdict(line, VerdictKind.Unknown, null, $"not checked: '{line}' is not a requirement the pre-flight can read");
        if (requirement.Url is not null)
            return Verdict(line, VerdictKind.Unknown, null, "not checked: a direct URL reference, not a package index lookup");
        if (requirement.Marker is { } marker)
        {
            try
            {
                if (!Markers.Evaluate(marker, MarkerEnvironment.For(platform)))
                    return Verdict(line, VerdictKind.NotApplicable, null, $"ignored on this cluster: markers '{marker}' don't match its environment");
            }
            catch (MarkerException e)
            {
                return Verdict(line, VerdictKind.Unknown, null, $"not checked: {e.Message}");
            }
        }
        return null;
    }

    public static RequirementVerdict Judge(string line, IndexAnswer answer, ClusterPlatform platform)
    {
        if (Applicability(line, platform, out var req) is { } skipped) return skipped;
        if (answer.Page is not { } page)
            return Verdict(line, VerdictKind.Unknown, null, $"not checked: {answer.Failure}");

        var supported = platform.SupportedTags().Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        var python = Pep440Version.Parse(platform.PythonFull);
        var candidates = new List<Candidate>();
        var ignoredForPython = new SortedSet<string>(StringComparer.Ordinal);
        var wrongTags = 0;
        foreach (var file in page.Files)
        {
            Candidate candidate;
            if (WheelFilename.TryParse(file.Filename, out var wheel))
            {
                if (wheel.Project != req.Project) continue;
                if (wheel.Rank(supported) is not { } rank)
                {
                    if (req.Specifier.Contains(wheel.Version)) wrongTags++;
                    continue;
                }
                candidate = new Candidate(file, wheel.Version, rank, wheel.Build, wheel);
            }
            else if (SdistFilename.TryParse(file.Filename, req.Project, out var sdistVersion))
                candidate = new Candidate(file, sdistVersion, null, null, null);
            else continue; // pip skips names it cannot parse

            // An invalid requires-python is ignored: the file counts as compatible (pip logs it at debug level).
            if (file.RequiresPython is { } rp && SpecifierSet.TryParse(rp, out var requires) && !requires.Contains(python))
            {
                ignoredForPython.Add($"{candidate.Version} Requires-Python {rp}");
                continue;
            }
            candidates.Add(candidate);
        }

        var fromVersions = candidates.Select(c => c.Version).Distinct().Order().Select(v => v.ToString()).ToList();
        var working = candidates.Where(c => c.Rank is not null && !c.File.Yanked).Select(c => c.Version).Distinct().Order()
            .Select(v => v.ToString()).ToList();
        var applicable = req.Specifier.Filter(candidates, c => c.Version);
        var warnings = new List<string>(page.Warnings);
        if (applicable.Count > 0 && applicable.All(c => c.File.Yanked))
        {
            if (!req.Specifier.IsPinned) applicable = [];
        }
        else applicable = applicable.Where(c => !c.File.Yanked).ToList();

        // pip's sort key: not yanked, version, wheel rank (an sdist ranks below every wheel), build tag.
        var best = applicable
            .OrderByDescending(c => c.Version)
            .ThenByDescending(c => c.Rank is { } r ? -r : -supported.Count)
            .ThenByDescending(c => c.Build?.Item1 ?? -1).ThenByDescending(c => c.Build?.Item2 ?? "", StringComparer.Ordinal)
            .FirstOrDefault();

        if (best is null)
        {
            var pip = new List<string>();
            if (ignoredForPython.Count > 0)
                pip.Add($"ERROR: Ignored the following versions that require a different python version: {string.Join("; ", ignoredForPython)}");
            pip.Add($"ERROR: Could not find a version that satisfies the requirement {req.ForErrors} (from versions: {(fromVersions.Count > 0 ? string.Join(", ", fromVersions) : "none")})");
            pip.Add($"ERROR: No matching distribution found for {req.ForErrors}");
            var why = !page.Found ? $"the index has no project '{req.Project}'"
                : wrongTags > 0 ? $"none of the {wrongTags} wheel(s) of a matching version is for {platform}, and there is no sdist"
                : ignoredForPython.Count > 0 ? $"the matching files require a different Python than {platform.PythonFull}"
                : $"no release matches {req.Specifier}";
            var works = working.Count > 0 ? $"; versions that would work here: {string.Join(", ", working)}" : "; no version of it installs here";
            return new RequirementVerdict(line, VerdictKind.No, null, $"no: {why}{works}", pip, working, warnings);
        }
        if (best.File.Yanked)
            warnings.Add($"The candidate selected for download or install is a yanked version: '{req.Project}' candidate (version {best.Version} at {best.File.Url})"
                         + $" Reason for being yanked: {best.File.YankedReason ?? "<none given>"}");
        if (best.Wheel is not null && best.Wheel.Tags.All(t => !supported.ContainsKey(t) || t.EndsWith("-linux_" + platform.Architecture, StringComparison.Ordinal)))
            warnings.Add($"{best.File.Filename} is a plain linux_{platform.Architecture} wheel: pip installs it, but it promises no portability (PyPI refuses such uploads)");
        return best.Rank is not null
            ? new RequirementVerdict(line, VerdictKind.Ok, best.File.Filename, $"ok: {best.File.Filename}", [], working, warnings)
            : new RequirementVerdict(line, VerdictKind.Maybe, best.File.Filename,
                $"maybe: only the sdist {best.File.Filename} fits, so pip will try to build it on the cluster (a compiler may be needed)", [], working, warnings);
    }

    private static RequirementVerdict Verdict(string line, VerdictKind kind, string? file, string reason) => new(line, kind, file, reason, [], [], []);
}
