using MLRay.Deploy;
using MLRay.Preflight;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Rendering;

/// <summary>Deploy and plan results for people (Spectre tables) and for scripts (<c>--output json</c>).</summary>
public static class ReportRenderer
{
    public static JsonObject ToJson(DeployReport report) => new()
    {
        ["cluster"] = report.Desired.Cluster.Name,
        ["succeeded"] = report.Succeeded,
        ["applied"] = report.Applied,
        ["saved_config"] = report.SavedConfigPath,
        ["models"] = ModelsJson(report.Desired, report),
        ["changes"] = ChangesJson(report.Plan, null),
        ["apps"] = new JsonArray([.. report.Apps.Select(a => (JsonNode)new JsonObject
        {
            ["app"] = a.App,
            ["registered_model"] = a.RegisteredModel,
            ["ray_status"] = a.RayStatus,
            ["outcome"] = Snake(a.Outcome.ToString()),
            ["summary"] = RayMessage.Summarize(a.Message),
            ["message"] = a.Message,
        })]),
    };

    public static JsonObject PlanToJson(DesiredState desired, ServePlan plan, ServeInstance current, IReadOnlyList<ModelPreflight>? preflight = null) => new()
    {
        ["cluster"] = desired.Cluster.Name,
        ["needs_put"] = plan.NeedsPut,
        ["models"] = ModelsJson(desired),
        ["preflight"] = PreflightJson(desired.Cluster, preflight ?? []),
        ["changes"] = ChangesJson(plan, current),
        ["config"] = plan.Config.DeepClone(),
    };

    /// <summary>The wheel pre-flight: mode, and per model each requirement's verdict (pip's error lines for a no).</summary>
    private static JsonObject PreflightJson(RayClusterConfig cluster, IReadOnlyList<ModelPreflight> checks) => new()
    {
        ["mode"] = cluster.Preflight.ToString().ToLowerInvariant(),
        ["models"] = new JsonArray([.. checks.Select(c => (JsonNode)new JsonObject
        {
            ["registered_model"] = c.RegisteredModel,
            ["version"] = c.Version,
            ["platform"] = c.Platform.ToString(),
            ["index"] = c.Index.ToString(),
            ["would_fail"] = c.WouldFail,
            ["could_not_check"] = c.CouldNotCheck,
            ["requirements"] = new JsonArray([.. c.Verdicts.Select(v => (JsonNode)new JsonObject
            {
                ["requirement"] = v.Requirement,
                ["verdict"] = v.Label,
                ["file"] = v.File,
                ["reason"] = v.Reason,
                ["pip_error"] = new JsonArray([.. v.PipError.Select(l => (JsonNode)l)]),
                ["working_versions"] = new JsonArray([.. v.WorkingVersions.Select(l => (JsonNode)l)]),
                ["warnings"] = new JsonArray([.. v.Warnings.Select(l => (JsonNode)l)]),
            })]),
        })]),
    };

    /// <summary>
    /// Each model's outcome; with a deploy's <paramref name="report"/>, a selected version the pipeline gave up on is
    /// <c>dead_lettered</c> (with its letter id and the command that replays it) and one waiting for its next attempt
    /// <c>waiting_to_retry</c>: neither was PUT.
    /// </summary>
    private static JsonArray ModelsJson(DesiredState desired, DeployReport? report = null) => new([.. desired.Models.Select(m =>
    {
        var node = new JsonObject
        {
            ["registered_model"] = m.RegisteredModel,
            ["version"] = m.Version,
            ["outcome"] = Snake(m.Kind.ToString()),
            ["app"] = m.AppName,
            ["python"] = m.Python,
            ["problems"] = new JsonArray([.. m.Problems.Select(p => (JsonNode)p)]),
        };
        if (report?.SmokeTests.GetValueOrDefault(m.RegisteredModel) is { } smoke) node["smoke_test"] = smoke.Text;
        var decision = report?.Decisions.FirstOrDefault(d => d.RegisteredModel == m.RegisteredModel && d.Version == m.Version);
        if (decision is not null && (m.Kind == ModelOutcomeKind.Selected && decision.Phase == AttemptPhase.WaitingToRetry || report!.DeadLettered.Contains(decision)))
        {
            node["outcome"] = Snake(decision.Phase.ToString());
            node["message"] = decision.Message;
            node["served_version"] = decision.ServedVersion;
            if (report!.DeadLettered.Contains(decision))
            {
                node["dead_letter"] = decision.State.DeadLetter;
                node["replay"] = report.ReplayCommand(decision);
            }
        }
        return (JsonNode)node;
    })]);

    private static JsonArray ChangesJson(ServePlan plan, ServeInstance? current) => new([.. plan.Changes.Select(c =>
    {
        var node = new JsonObject { ["app"] = c.App, ["change"] = Snake(c.Kind.ToString()), ["registered_model"] = c.RegisteredModel };
        if (current is not null && c.Kind == AppChangeKind.Updated)
            node["diff"] = new JsonArray([.. Diff(c.App, plan, current).Select(d => (JsonNode)d.ToString())]);
        return (JsonNode)node;
    })]);

    private static IReadOnlyList<JsonDifference> Diff(string app, ServePlan plan, ServeInstance current)
    {
        var desired = plan.Config["applications"]!.AsArray().FirstOrDefault(a => (string?)a?["name"] == app);
        return JsonDiff.Compare(current.Applications.GetValueOrDefault(app)?.DeployedAppConfig, desired);
    }

    private static string Snake(string pascal) =>
        string.Concat(pascal.Select((ch, i) => char.IsUpper(ch) && i > 0 ? "_" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString()));

    public static void WriteModels(IAnsiConsole console, DesiredState desired)
    {
        var cluster = desired.Cluster;
        console.MarkupLine($"[bold]{Markup.Escape(cluster.Name)}[/]  Python {cluster.PythonVersion}  {Markup.Escape(cluster.DashboardAddress.ToString())}");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("registered model").AddColumn("version").AddColumn("python").AddColumn("outcome").AddColumn("detail");
        foreach (var m in desired.Models)
        {
            var (colour, label) = m.Kind switch
            {
                ModelOutcomeKind.Selected => ("green", $"app {m.AppName}"),
                ModelOutcomeKind.OtherCluster => ("grey", "other cluster"),
                ModelOutcomeKind.Disabled => ("grey", "disabled"),
                ModelOutcomeKind.NothingToServe => ("grey", "nothing to serve"),
                ModelOutcomeKind.Pending => ("yellow", "pending"),
                _ => ("red", "invalid"),
            };
            table.AddRow(Markup.Escape(m.RegisteredModel), m.Version ?? "-", m.Python ?? "-",
                $"[{colour}]{Markup.Escape(label)}[/]", Markup.Escape(string.Join("\n", m.Problems)));
        }
        console.Write(table);
    }

    public static void WritePlan(IAnsiConsole console, DesiredState desired, ServePlan plan, ServeInstance current, IReadOnlyList<ModelPreflight>? preflight = null)
    {
        WriteModels(console, desired);
        WritePreflight(console, desired.Cluster, preflight ?? []);
        foreach (var c in plan.Changes)
        {
            var (sign, colour) = c.Kind switch
            {
                AppChangeKind.Added => ("+", "green"),
                AppChangeKind.Removed => ("-", "red"),
                AppChangeKind.Updated => ("~", "yellow"),
                AppChangeKind.Foreign => ("=", "grey"),
                _ => ("=", "grey"),
            };
            var note = c.Kind == AppChangeKind.Foreign ? " (not managed by MLRay; carried over unchanged)" : c.Kind == AppChangeKind.Unchanged ? " (unchanged)" : "";
            console.MarkupLine($"[{colour}]{sign} {Markup.Escape(c.App)}[/]{Markup.Escape(note)}");
            if (c.Kind == AppChangeKind.Updated)
                foreach (var d in Diff(c.App, plan, current))
                    console.MarkupLine($"    [yellow]{Markup.Escape(d.ToString())}[/]");
        }
        console.MarkupLine(plan.NeedsPut ? "[yellow]A deploy would PUT this config.[/]" : "[green]The cluster already matches: no PUT needed.[/]");
    }

    /// <summary>Each selected model's requirements with their verdict, then which model pip would refuse, in pip's words.</summary>
    public static void WritePreflight(IAnsiConsole console, RayClusterConfig cluster, IReadOnlyList<ModelPreflight> checks)
    {
        if (cluster.Preflight == PreflightMode.Off)
        {
            console.MarkupLine("[grey]Wheel pre-flight: off for this cluster.[/]");
            return;
        }
        if (checks.Count == 0) return;
        var first = checks[0];
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape($"wheel pre-flight ({cluster.Preflight.ToString().ToLowerInvariant()}): {first.Platform}, index {first.Index}"))
            .AddColumn("registered model").AddColumn("requirement").AddColumn("verdict").AddColumn("detail");
        foreach (var c in checks)
            foreach (var v in c.Verdicts)
            {
                var colour = v.Kind switch { VerdictKind.Ok => "green", VerdictKind.No => "red", VerdictKind.NotApplicable => "grey", _ => "yellow" };
                table.AddRow(Markup.Escape(c.RegisteredModel), Markup.Escape(v.Requirement), $"[{colour}]{v.Label}[/]",
                    Markup.Escape(string.Join("\n", [v.Reason, .. v.Warnings])));
            }
        console.Write(table);
        foreach (var c in checks.Where(c => c.WouldFail))
        {
            var what = cluster.Preflight == PreflightMode.Block ? "is refused before Ray (preflight: block)" : "would be deployed and fail in Ray (preflight: warn)";
            console.MarkupLine($"[red]{Markup.Escape(c.RegisteredModel)} version {Markup.Escape(c.Version)} would fail on {Markup.Escape(cluster.Name)}[/] and {what}: pip would say");
            foreach (var line in c.Failing.SelectMany(v => v.PipError)) console.MarkupLine($"    {Markup.Escape(line)}");
        }
        foreach (var c in checks.Where(c => c.CouldNotCheck && !c.WouldFail))
            console.MarkupLine($"[yellow]{Markup.Escape(c.RegisteredModel)}: the pre-flight could not run for every requirement[/] (a deploy goes ahead).");
    }

    /// <summary>Every invalid model with each of its problems: they get no app, so the apps table cannot show them.</summary>
    /// <param name="told">Models said elsewhere (a deploy's dead-lettered ones, with their letter).</param>
    public static void WriteInvalidModels(IAnsiConsole console, DesiredState desired, IReadOnlySet<string>? told = null)
    {
        foreach (var m in desired.Models.Where(m => m.Kind == ModelOutcomeKind.Invalid && told?.Contains(m.RegisteredModel) != true))
        {
            console.MarkupLine($"[red]invalid[/] {Markup.Escape(m.RegisteredModel)} version {Markup.Escape(m.Version ?? "-")} (left out; an app it already runs is kept):");
            foreach (var problem in m.Problems) console.MarkupLine($"    {Markup.Escape(problem)}");
        }
    }

    /// <summary>
    /// Versions this deploy did not PUT because the pipeline gave up on them (with the command that replays the letter) or
    /// waits to retry them.
    /// </summary>
    private static void WriteNotAttempted(IAnsiConsole console, DeployReport report)
    {
        var cluster = report.Desired.Cluster.Name;
        var selected = report.Desired.Models.Where(m => m.Kind == ModelOutcomeKind.Selected).Select(m => (m.RegisteredModel, m.Version)).ToHashSet();
        foreach (var d in report.Decisions.Where(d => report.DeadLettered.Contains(d)
                     || d.Phase == AttemptPhase.WaitingToRetry && selected.Contains((d.RegisteredModel, d.Version))))
        {
            var label = report.DeadLettered.Contains(d) ? $"dead-lettered ({report.ReplayCommand(d)})" : "waiting to retry";
            var served = !selected.Contains((d.RegisteredModel, d.Version)) ? "left out; an app it already runs is kept"   // invalid
                : d.ServedVersion is { } v ? $"not deployed; version {v} serves on {cluster} instead"
                : $"not deployed; nothing of it serves on {cluster}";
            console.MarkupLine($"{Markup.Escape($"{d.RegisteredModel} version {d.Version}:")} [red]{Markup.Escape(label)}[/]");
            console.MarkupLine($"    {Markup.Escape($"{served}. {RayMessage.Summarize(d.Message, 2000)}")}");
        }
    }

    public static Table AppsTable(IReadOnlyList<AppResult> apps)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("app").AddColumn("Ray status").AddColumn("detail");
        foreach (var a in apps)
        {
            var colour = a.Outcome switch
            {
                AppOutcome.Running => "green",
                AppOutcome.Failed or AppOutcome.TimedOut => "red",
                AppOutcome.Removed => "grey",
                _ => "yellow",
            };
            table.AddRow(Markup.Escape(a.App), $"[{colour}]{Markup.Escape(a.Outcome == AppOutcome.TimedOut ? "TIMED OUT" : a.RayStatus)}[/]",
                Markup.Escape(a.Outcome is AppOutcome.Failed or AppOutcome.TimedOut ? RayMessage.Summarize(a.Message) : ""));
        }
        return table;
    }

    public static void WriteReport(IAnsiConsole console, DeployReport report)
    {
        if (report.Apps.Count > 0) console.Write(AppsTable(report.Apps));
        WriteInvalidModels(console, report.Desired, report.DeadLettered.Select(d => d.RegisteredModel).ToHashSet(StringComparer.Ordinal));
        WriteNotAttempted(console, report);
        foreach (var (model, verdict) in report.SmokeTests.OrderBy(t => t.Key, StringComparer.Ordinal))
            console.MarkupLine($"[{(verdict.LetsThrough ? "green" : "red")}]smoke test[/] {Markup.Escape(model)}: {Markup.Escape(verdict.Text)}");
        var put = report.Applied
            ? $"PUT the config ({string.Join(", ", report.Plan.Changes.Where(c => c.Kind is not (AppChangeKind.Unchanged or AppChangeKind.Foreign)).GroupBy(c => c.Kind).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}"))})"
            : "no PUT: the cluster already matched";
        console.MarkupLine(Markup.Escape($"{report.Desired.Cluster.Name}: {put}." + (report.SavedConfigPath is { } p ? $" Desired config saved to {p}." : "")));
        console.MarkupLine(report.Succeeded ? "[green]Every selected model is running.[/]" : "[red]Not every selected model is running.[/]");
    }
}
