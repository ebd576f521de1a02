using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using MLRay.Deploy;
using MLRay.Serve;

namespace MLRay.Preflight;

/// <summary>The pre-flight of one model version on one cluster: a verdict per line of its pip list (extra pins included).</summary>
public sealed record ModelPreflight(string RegisteredModel, string Version, ClusterPlatform Platform, Uri Index, PreflightMode Mode,
    IReadOnlyList<RequirementVerdict> Verdicts)
{
    public const int MaxTagLength = 4000;

    /// <summary>pip would fail on this cluster: some requirement has no file that fits.</summary>
    public bool WouldFail => Verdicts.Any(v => v.Kind == VerdictKind.No);
    public bool CouldNotCheck => Verdicts.Any(v => v.Kind == VerdictKind.Unknown);
    public IEnumerable<RequirementVerdict> Failing => Verdicts.Where(v => v.Kind == VerdictKind.No);

    /// <summary>Only ok (or not applicable) without warnings: nothing to tell anyone.</summary>
    public bool Clean => Verdicts.All(v => v.Kind is VerdictKind.Ok or VerdictKind.NotApplicable && v.Warnings.Count == 0);

    /// <summary>Why a blocked model is not deployed: a line saying so, then pip's own error lines per failing requirement.</summary>
    public IReadOnlyList<string> BlockedProblems() =>
    [
        $"pre-flight: pip cannot install {string.Join(", ", Failing.Select(v => v.Requirement))} on {Platform} (package index {Index});"
        + " nothing was sent to Ray (preflight: block). "
        + string.Join("; ", Failing.Select(v => $"{v.Requirement}: {(v.WorkingVersions.Count > 0 ? "versions that would work here: " + string.Join(", ", v.WorkingVersions) : "no version installs here")}")),
        .. Failing.SelectMany(v => v.PipError),
    ];

    /// <summary>The <c>mlray.&lt;cluster&gt;.preflight</c> tag: what is not plainly ok, pip's lines included; "ok …" when clean.</summary>
    public string TagText()
    {
        if (Clean) return $"ok: every requirement has a wheel for {Platform}";
        var lines = new List<string>();
        if (WouldFail)
        {
            lines.Add(Mode == PreflightMode.Block
                ? $"blocked: pip cannot install {string.Join(", ", Failing.Select(v => v.Requirement))} on {Platform}; nothing was sent to Ray"
                : $"warning: pip will fail to install {string.Join(", ", Failing.Select(v => v.Requirement))} on {Platform}; deployed anyway (preflight: warn)");
            lines.AddRange(Failing.SelectMany(v => v.PipError));
        }
        foreach (var v in Verdicts.Where(v => v.Kind == VerdictKind.Unknown))
            lines.Add($"check could not run for {v.Requirement}: {v.Reason["not checked: ".Length..]}; deployed without it");
        foreach (var v in Verdicts.Where(v => v.Kind == VerdictKind.Maybe))
            lines.Add($"{v.Requirement}: {v.Reason}");
        foreach (var v in Verdicts) lines.AddRange(v.Warnings.Select(w => $"{v.Requirement}: {w}"));
        var text = string.Join("\n", lines);
        return text.Length <= MaxTagLength ? text : text[..(MaxTagLength - 1)] + "…";
    }

    /// <summary>The interpreter a cluster is checked as: its own X.Y.Z when config gives one, else the model's (same X.Y; routing ensured it).</summary>
    public static ClusterPlatform PlatformOf(RayClusterConfig cluster, string? modelPython)
    {
        var python = cluster.PythonVersion;
        var patch = python.Patch ?? (PythonVersionSpec.TryParse(modelPython, out var m) ? m.Patch : null) ?? 0;
        return new ClusterPlatform(python.Major, python.Minor, patch, cluster.Architecture, cluster.Libc.Family, cluster.Libc.Major, cluster.Libc.Minor);
    }

    /// <summary>
    /// Pure: with <c>preflight: block</c>, a selected model pip would refuse becomes invalid with the pre-flight's problems (so the
    /// failure policy dead-letters it at once as permanent, and keeps what it already runs); its app leaves the desired config.
    /// </summary>
    public static DesiredState Gate(DesiredState desired, IReadOnlyList<ModelPreflight> results)
    {
        if (desired.Cluster.Preflight != PreflightMode.Block) return desired;
        var blocked = results.Where(r => r.WouldFail).ToDictionary(r => (r.RegisteredModel, r.Version));
        if (blocked.Count == 0) return desired;
        var models = desired.Models.Select(m => m.Kind == ModelOutcomeKind.Selected && m.Version is not null && blocked.TryGetValue((m.RegisteredModel, m.Version), out var r)
            ? m with { Kind = ModelOutcomeKind.Invalid, Problems = r.BlockedProblems() } : m).ToList();
        var apps = desired.Applications.Where(a => !blocked.Keys.Any(k => k.RegisteredModel == (string?)a["args"]?[ServeApp.ManagedModelArg])).ToList();
        return desired with { Models = models, Applications = apps };
    }
}

/// <summary>Runs the pre-flight of every selected model of a desired state against the index (one page per project, shared).</summary>
public sealed class PreflightChecker(PackageIndexClient index)
{
    private static readonly IndexAnswer NotAsked = IndexAnswer.Unreachable("not asked");

    // A verdict depends only on the line, the platform and the project's page. The index client hands out the same page
    // object while it is cached, so keying on that object re-judges a requirement only when its page is fetched again,
    // not on every reconcile of every model; an expired page (and its verdicts) is then collected.
    private readonly ConditionalWeakTable<IndexAnswer, ConcurrentDictionary<(string Line, ClusterPlatform Platform), RequirementVerdict>> _verdicts = new();

    public Uri Index => index.Url;

    private RequirementVerdict Judge(string line, IndexAnswer answer, ClusterPlatform platform) =>
        _verdicts.GetOrCreateValue(answer).GetOrAdd((line, platform), key => WheelVerdicts.Judge(key.Line, answer, key.Platform));

    public async Task<IReadOnlyList<ModelPreflight>> CheckAsync(DesiredState desired, CancellationToken ct = default)
    {
        var cluster = desired.Cluster;
        if (cluster.Preflight == PreflightMode.Off) return [];
        var apps = desired.Applications.ToDictionary(a => (string)a["args"]![ServeApp.ManagedModelArg]!, StringComparer.Ordinal);
        var work = desired.Models
            .Where(m => m.Kind == ModelOutcomeKind.Selected && m.Version is not null && apps.ContainsKey(m.RegisteredModel))
            .Select(m => (Model: m, Platform: ModelPreflight.PlatformOf(cluster, m.Python),
                Pip: (apps[m.RegisteredModel]["runtime_env"]?["pip"] as JsonArray ?? []).Select(p => (string)p!).ToList()))
            .ToList();
        var projects = work.SelectMany(w => w.Pip.Select(line =>
                WheelVerdicts.Applicability(line, w.Platform, out var req) is null ? req.Project : null))
            .OfType<string>().Distinct().ToList();
        var answers = (await Task.WhenAll(projects.Select(async p => (p, await index.GetProjectAsync(p, ct)))))
            .ToDictionary(x => x.p, x => x.Item2);
        return work.Select(w => new ModelPreflight(w.Model.RegisteredModel, w.Model.Version!, w.Platform, index.Url, cluster.Preflight,
            w.Pip.Select(line => Judge(line,
                PipRequirement.TryParse(line, out var r) && answers.TryGetValue(r.Project, out var a) ? a : NotAsked,
                w.Platform)).ToList())).ToList();
    }
}
