using System.Globalization;
using MLRay.Deploy;
using MLRay.Pipeline;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Workers;
using MLRay.Pipeline.Rollouts;
using MLRay.Pipeline.Status;
using MLRay.Serve;
using static MLRay.Receiver.Console.Html;

namespace MLRay.Receiver.Console;

/// <summary>The overview's filters, from the query string (and the event stream's, so live updates keep them).</summary>
public sealed record OverviewFilter(string? Name, string? Status)
{
    public bool Keeps(ModelStatusRow row) =>
        (string.IsNullOrWhiteSpace(Name) || row.RegisteredModel.Contains(Name.Trim(), StringComparison.OrdinalIgnoreCase))
        && (string.IsNullOrEmpty(Status) || row.Status == Status);

    public string Query => string.Join("&", new[] { ("name", Name), ("status", Status) }
        .Where(p => !string.IsNullOrEmpty(p.Item2)).Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2!)}"));
}

/// <summary>The console's pages as HTML (through <see cref="Html"/> only): each readable without JavaScript.</summary>
public static class ConsolePages
{
    public static Markup Layout(string title, Markup body, Markup csrf, string? result = null, string? events = null) => H($"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{title} — MLRay ops</title>
        <link rel="stylesheet" href="{OpsConsoleExtensions.StaticPath}/console.css">
        <script src="{OpsConsoleExtensions.StaticPath}/console.js" defer></script>
        </head>
        <body{When(events is not null, H($" data-events=\"{events}\""))}>
        <a class="skip" href="#main">Skip to content</a>
        <header>
        <nav aria-label="Console">
        <a href="{OpsConsoleExtensions.OverviewPath}">Overview</a>
        <a href="{OpsConsoleExtensions.DeadLettersPath}">Dead letters</a>
        <a href="{OpsConsoleExtensions.RolloutsPath}">Rollouts</a>
        <a href="{OpsConsoleExtensions.ActivityPath}">Activity</a>
        <form method="post" action="{OpsConsoleExtensions.LogoutPath}" class="inline">{csrf}<button type="submit">Log out</button></form>
        </nav>
        </header>
        <main id="main">
        <h1>{title}</h1>
        <div id="live" role="status" aria-live="polite" class="live" hidden></div>
        <div id="results" role="status" aria-live="polite" tabindex="-1"></div>
        {When(!string.IsNullOrEmpty(result), H($"<p class=\"result\" role=\"status\" id=\"result\">{result}</p>"))}
        {body}
        </main>
        </body>
        </html>
        """);

    public static Markup Login(Markup csrf, string? error, string returnUrl) => H($"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Log in — MLRay ops</title>
        <link rel="stylesheet" href="{OpsConsoleExtensions.StaticPath}/console.css">
        </head>
        <body>
        <main id="main" class="login">
        <h1>MLRay ops console</h1>
        {When(error is not null, H($"<p class=\"error\" role=\"alert\" id=\"login-error\">{error}</p>"))}
        <form method="post" action="{OpsConsoleExtensions.LoginPath}">
        {csrf}
        <input type="hidden" name="return" value="{returnUrl}">
        <label for="token">Ops token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <button type="submit" id="login">Log in</button>
        </form>
        <p class="hint">The token is the receiver's <code>receiver.ops_token_env</code> / <code>_file</code>. It is asked once: the session lasts until you log out or it expires.</p>
        </main>
        </body>
        </html>
        """);

    public static Markup Csrf(string token) => H($"<input type=\"hidden\" name=\"{ConsoleAuth.AntiforgeryField}\" value=\"{token}\">");

    // ---- overview -------------------------------------------------------------------------------------------------

    public static Markup Overview(ConsoleView view, OverviewFilter filter, Markup csrf, MLRayConfig config) => H($"""
        <ul id="counts" class="counts" aria-label="Models by status">{Counts(view)}</ul>
        <div id="stale">{Stale(view)}</div>
        <form method="get" action="{OpsConsoleExtensions.OverviewPath}" class="filters" role="search">
        <label for="f-name">Model name contains</label>
        <input id="f-name" name="name" value="{filter.Name ?? ""}">
        <label for="f-status">Status</label>
        <select id="f-status" name="status">
        <option value="">any</option>
        {Join(ModelStatus.All.Select(s => H($"<option value=\"{s}\"{When(s == filter.Status, H($" selected"))}>{s}</option>")))}
        </select>
        <button type="submit">Filter</button>
        </form>
        <table id="matrix" class="matrix">
        <caption>Registered models × clusters; read at <time id="read-at" datetime="{view.ReadAt:O}">{Clock(view.ReadAt)}</time></caption>
        <thead><tr><th scope="col">Registered model</th>{Join(config.Clusters.Select(c => H($"<th scope=\"col\">{c.Name}<br><span class=\"sub\">Python {c.PythonVersion}</span></th>")))}</tr></thead>
        <tbody id="matrix-rows">{Rows(view, filter, csrf, config)}</tbody>
        </table>
        """);

    public static Markup Counts(ConsoleView view) => Join(ModelStatus.All.Select(s =>
    {
        var n = view.Models?.Count(m => m.Status == s) ?? 0;
        return H($"<li class=\"{Slug(s)}{When(n == 0, H($" zero"))}\" data-status=\"{s}\"><a href=\"{OpsConsoleExtensions.OverviewPath}?status={Uri.EscapeDataString(s)}\"><span aria-hidden=\"true\">{Icon(s)}</span> {s} <strong>{n}</strong></a></li>");
    }));

    public static Markup Stale(ConsoleView view) => !view.Stale && view.ModelsAsOf is null ? Empty : H($"""
        <div class="stale" role="alert" data-stale="true">
        <strong>⚠ Stale:</strong> {(view.ModelsAsOf is { } asOf ? $"MLflow could not be read; the models below are as of {Clock(asOf)}, not now." : "some of what is shown could not be read now.")}
        <ul>{Join(view.Problems.Select(p => H($"<li>{p}</li>")))}</ul>
        </div>
        """);

    public static Markup Rows(ConsoleView view, OverviewFilter filter, Markup csrf, MLRayConfig config) =>
        Join(RowsByKey(view, filter, csrf, config).Select(r => r.Html));

    /// <summary>The overview's rows, each with its <c>data-key</c> (the live feed sends only the rows that changed).</summary>
    public static IReadOnlyList<(string Key, Markup Html)> RowsByKey(ConsoleView view, OverviewFilter filter, Markup csrf, MLRayConfig config)
    {
        if (view.Models is null) return [("none:unread", H($"<tr data-key=\"none:unread\"><td colspan=\"{config.Clusters.Count + 1}\">MLflow could not be read, and nothing was read from it before.</td></tr>"))];
        var rows = new List<(string Key, Markup Html)>();
        foreach (var model in view.Models.GroupBy(m => m.RegisteredModel).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            if (!model.Any(filter.Keeps)) continue;
            if (model.FirstOrDefault(m => m.Cluster is null) is { } nowhere)
            {
                // No cluster takes it (its Python, or an environment that cannot be read): one row with the reason.
                rows.Add(("row:" + model.Key, H($"""<tr data-key="row:{model.Key}" class="unroutable"><th scope="row">{ModelLink(config, model.Key, nowhere.Version)}</th><td colspan="{config.Clusters.Count}" data-key="cell::{model.Key}" data-model="{model.Key}" data-status="{nowhere.Status}" class="cell {Slug(nowhere.Status)}">{Badge(nowhere.Status)} <span class="version">v{nowhere.Version}</span><p class="detail">{nowhere.Detail}</p></td></tr>""")));
                continue;
            }
            var cells = config.Clusters.Select(c => model.FirstOrDefault(m => m.Cluster == c.Name) is { } row
                ? Cell(view, row, config, csrf)
                : H($"<td data-key=\"cell:{c.Name}:{model.Key}\" class=\"cell none\"><span class=\"sub\">not for this cluster</span></td>"));
            rows.Add(("row:" + model.Key, H($"<tr data-key=\"row:{model.Key}\"><th scope=\"row\">{ModelLink(config, model.Key, null)}</th>{Join(cells)}</tr>")));
        }
        return rows.Count == 0 ? [("none:no-match", H($"<tr data-key=\"none:no-match\"><td colspan=\"{config.Clusters.Count + 1}\">No model matches the filter.</td></tr>"))] : rows;
    }

    private static Markup Cell(ConsoleView view, ModelStatusRow row, MLRayConfig config, Markup csrf)
    {
        var cluster = config.GetCluster(row.Cluster!);
        var tags = view.Snapshot?.TagsOf(row.RegisteredModel, row.Version ?? "") ?? new Dictionary<string, string>();
        string? Tag(string field) => tags.GetValueOrDefault(MLRayTags.Key(cluster.Name, field));
        var weight = row.Status == ModelStatus.RollingOut && RolloutState.Parse(Tag(MLRayTags.Rollout)) is { } r ? $" at {r.Weight} %" : "";
        var updated = DateTimeOffset.TryParse(Tag(MLRayTags.UpdatedAt), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : (DateTimeOffset?)null;
        var app = view.Status.Clusters.FirstOrDefault(c => c.Cluster.Name == cluster.Name)?.Apps
            .FirstOrDefault(a => a.ManagedModel == row.RegisteredModel && a.ManagedVersion == row.Version);
        var letters = view.LettersOf(cluster.Name, row.RegisteredModel, row.Version).ToList();
        // A letter can be in its queue before the worker's FAILED tag carries the message: Ray's words then come from the letter.
        var detail = row.Detail.Length > 0 ? row.Detail : letters.Select(l => l.Letter?.Message).FirstOrDefault(m => !string.IsNullOrEmpty(m)) ?? "";
        return H($"""
            <td data-key="cell:{cluster.Name}:{row.RegisteredModel}" data-cluster="{cluster.Name}" data-model="{row.RegisteredModel}" data-status="{row.Status}" class="cell {Slug(row.Status)}">
            {Badge(row.Status)}<span class="weight">{weight}</span> <span class="version">v{row.Version}</span>
            <div class="meta">smoke test: <span class="smoke">{Tag(MLRayTags.SmokeTest) ?? "—"}</span>{When(updated is not null, H($"; updated <time datetime=\"{updated:O}\" class=\"age\">{Clock(updated ?? default)}</time>"))}</div>
            {When(detail.Length > 0, H($"<p class=\"detail\">{RayMessage.Summarize(detail, CellMessageLength)}</p>"))}
            <div class="links"><a href="{CellPath(cluster.Name, row.RegisteredModel)}">details</a> · {ModelLink(config, row.RegisteredModel, row.Version, "MLflow")}{When(app is not null, H($" · <a href=\"{RayAppUri(cluster, app?.Name ?? "")}\">Ray</a>"))}</div>
            {When(letters.Count > 0, ReplayControl(cluster.Name, row.RegisteredModel, row.Version, letters, csrf, OpsConsoleExtensions.OverviewPath))}
            </td>
            """);
    }

    /// <summary>Enough for pip's <c>ERROR:</c> lines after the attempts' preamble; the cell's page has the whole message.</summary>
    private const int CellMessageLength = 600;

    public static Markup Badge(string status) => H($"<span class=\"badge {Slug(status)}\"><span aria-hidden=\"true\">{Icon(status)}</span> <span class=\"status\">{status}</span></span>");

    private static string Icon(string status) => status switch
    {
        ModelStatus.Running => "✔",
        ModelStatus.RollingOut => "⇗",
        ModelStatus.Deploying or ModelStatus.Pending => "◷",
        ModelStatus.Failed => "✖",
        ModelStatus.DeadLettered => "✉",
        ModelStatus.Unroutable => "⊘",
        _ => "–",
    };

    public static string Slug(string status) => "s-" + status.ToLowerInvariant().Replace(' ', '-').Replace('_', '-');

    private static string Clock(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string CellPath(string cluster, string model) => $"{OpsConsoleExtensions.CellPath}/{Uri.EscapeDataString(cluster)}/{Uri.EscapeDataString(model)}";

    private static Markup ModelLink(MLRayConfig config, string model, string? version, string? text = null)
    {
        var page = new Uri(config.Mlflow.TrackingUri, "#/models/" + Uri.EscapeDataString(model) + (version is null ? "" : "/versions/" + Uri.EscapeDataString(version)));
        return H($"<a href=\"{page}\"{When(text is null, H($" class=\"model\""))}>{text ?? model}</a>");
    }

    private static Uri RayAppUri(RayClusterConfig cluster, string app) => new(cluster.DashboardAddress, "#/serve/applications/" + Uri.EscapeDataString(app));

    /// <summary>Replay (and, on the dead-letter page, purge) behind a confirmation that names what will happen; works as a plain form.</summary>
    public static Markup ReplayControl(string cluster, string model, string? version, IReadOnlyList<DeadLetterEntry> letters, Markup csrf, string returnTo) => H($"""
        <details class="confirm replay">
        <summary>Replay…</summary>
        <form method="post" action="{OpsConsoleExtensions.DeadLettersPath}/{Uri.EscapeDataString(cluster)}/replay" class="inplace">
        {csrf}<input type="hidden" name="return" value="{returnTo}">
        {Join(letters.Select(l => H($"<input type=\"hidden\" name=\"id\" value=\"{l.Id}\">")))}
        <p>Replay puts version {version ?? "?"} of {model} back in {cluster}'s queue ({letters.Count} letter{(letters.Count == 1 ? "" : "s")}): its worker deploys it again, and each letter is removed once the broker confirmed its replay.</p>
        <button type="submit" class="confirm-replay">Confirm replay</button>
        </form>
        <div class="result-slot" role="status"></div>
        </details>
        """);

    public static Markup PurgeControl(string cluster, DeadLetterEntry letter, Markup csrf, string returnTo) => H($"""
        <details class="confirm purge">
        <summary>Purge…</summary>
        <form method="post" action="{OpsConsoleExtensions.DeadLettersPath}/{Uri.EscapeDataString(cluster)}/purge" class="inplace">
        {csrf}<input type="hidden" name="return" value="{returnTo}"><input type="hidden" name="id" value="{letter.Id}">
        <p>Purge removes letter {letter.Id}{(letter.Letter is { } l ? $" ({l.RegisteredModel} version {l.Version})" : "")} from {cluster}'s dead-letter queue for good. Nothing is deployed; the version stays stopped until it changes.</p>
        <button type="submit" class="confirm-purge">Confirm purge</button>
        </form>
        <div class="result-slot" role="status"></div>
        </details>
        """);

    // ---- dead letters ---------------------------------------------------------------------------------------------

    public static Markup DeadLetters(DeadLetterListing listing, Markup csrf) => H($"""
        {Join(listing.Clusters.Select(c => H($"""
            <section aria-labelledby="dl-{c.Cluster}">
            <h2 id="dl-{c.Cluster}">{c.Cluster} <span class="sub">({c.Letters.Count} letter{(c.Letters.Count == 1 ? "" : "s")}, oldest first)</span></h2>
            {(c.Letters.Count == 0 ? H($"<p>No dead letters.</p>") : H($"""
                <table class="letters" data-cluster="{c.Cluster}">
                <thead><tr><th scope="col">Dead-lettered</th><th scope="col">Model</th><th scope="col">Version</th><th scope="col">Class</th><th scope="col">Attempts</th><th scope="col">Ray's message</th><th scope="col">Actions</th></tr></thead>
                <tbody>{Join(c.Letters.Select(e => Letter(c.Cluster, e, csrf)))}</tbody>
                </table>
                """))}
            </section>
            """)))}
        <section aria-labelledby="dl-unroutable">
        <h2 id="dl-unroutable">Unroutable models <span class="sub">(mlray.unroutable)</span></h2>
        {(listing.Unroutable is not { Count: > 0 } parked ? H($"<p>None.</p>") : H($"""
            <table><thead><tr><th scope="col">Parked</th><th scope="col">Model</th><th scope="col">Version</th><th scope="col">Python</th><th scope="col">Reason</th></tr></thead>
            <tbody>{Join(parked.Select(u => H($"<tr><td>{(u.ParkedAt is { } at ? Clock(at) : "")}</td><td>{u.Model?.RegisteredModel}</td><td>{u.Model?.Version}</td><td>{u.Model?.Python}</td><td>{u.Reason ?? u.Problem}</td></tr>")))}</tbody></table>
            """))}
        </section>
        """);

    private static Markup Letter(string cluster, DeadLetterEntry e, Markup csrf) => H($"""
        <tr data-letter="{e.Id}">
        <td><time datetime="{e.DeadLetteredAt:O}">{(e.DeadLetteredAt is { } at ? Clock(at) : "")}</time></td>
        <td>{e.Letter?.RegisteredModel ?? "(unreadable)"}</td><td>{e.Letter?.Version}</td><td>{e.Letter?.FailureClass}</td><td>{e.Letter?.Attempts}</td>
        <td><details class="message"><summary>{RayMessage.Summarize(e.Letter?.Message ?? e.Problem ?? "", 120)}</summary><pre>{e.Letter?.Message ?? e.Problem}</pre></details></td>
        <td class="actions">{When(e.Letter is not null, ReplayControl(cluster, e.Letter?.RegisteredModel ?? "", e.Letter?.Version, [e], csrf, OpsConsoleExtensions.DeadLettersPath))}{PurgeControl(cluster, e, csrf, OpsConsoleExtensions.DeadLettersPath)}</td>
        </tr>
        """);

    // ---- rollouts -------------------------------------------------------------------------------------------------

    public static Markup Rollouts(IReadOnlyList<RolloutStatus> rollouts, Markup csrf) => rollouts.Count == 0 ? H($"<p id=\"no-rollouts\">No rollout in progress.</p>") : H($"""
        <table class="rollouts" id="rollouts">
        <thead><tr><th scope="col">Cluster</th><th scope="col">Model</th><th scope="col">Version</th><th scope="col">From</th><th scope="col">Weight</th><th scope="col">Step</th><th scope="col">Since</th><th scope="col">State</th><th scope="col">Message</th><th scope="col">Actions</th></tr></thead>
        <tbody>{Join(rollouts.Select(r => RolloutRow(r, csrf, OpsConsoleExtensions.RolloutsPath)))}</tbody>
        </table>
        """);

    private static Markup RolloutRow(RolloutStatus status, Markup csrf, string returnTo)
    {
        var v = status.InProgress!;
        var state = v.Rollout;
        return H($"""
            <tr data-rollout="{status.Cluster.Name}:{status.RegisteredModel}">
            <td>{status.Cluster.Name}</td><td><a href="{CellPath(status.Cluster.Name, status.RegisteredModel)}">{status.RegisteredModel}</a></td><td>{v.Version}</td><td>{state?.From}</td>
            <td class="weight">{v.Weight} %</td><td>{(state is null ? "" : (state.Step + 1).ToString(CultureInfo.InvariantCulture))}</td><td>{(state is null ? "" : Clock(state.Since))}</td>
            <td>{(state?.Paused == true ? "⏸ paused" : "▶ moving")}</td><td>{v.Message}</td>
            <td class="actions">{RolloutControls(status, csrf, returnTo)}</td>
            </tr>
            """);
    }

    public static Markup RolloutControls(RolloutStatus status, Markup csrf, string returnTo)
    {
        if (status.InProgress is not { } v) return Empty;
        var paused = v.Rollout?.Paused == true;
        var commands = new List<(RolloutCommand Command, string What)>();
        if (!paused) commands.Add((RolloutCommand.Pause, $"Pause holds the weights where they are (version {v.Version} at {v.Weight} %) until resumed, promoted or aborted."));
        else commands.Add((RolloutCommand.Resume, $"Resume lets version {v.Version}'s rollout move on from {v.Weight} % at the next step."));
        commands.Add((RolloutCommand.Promote, $"Promote gives version {v.Version} all the unpinned traffic now, skipping the remaining steps; version {v.Rollout?.From ?? "?"}'s app goes one interval later."));
        commands.Add((RolloutCommand.Abort, $"Abort puts all traffic back on version {v.Rollout?.From ?? "?"} and dead-letters version {v.Version} (class rollout, aborted by operator)."));
        var cluster = status.Cluster.Name;
        return Join(commands.Select(c => H($"""
            <details class="confirm {c.Command.Name()}">
            <summary>{Capitalized(c.Command.Name())}…</summary>
            <form method="post" action="{OpsConsoleExtensions.RolloutsPath}/{Uri.EscapeDataString(cluster)}/{Uri.EscapeDataString(status.RegisteredModel)}/{c.Command.Name()}" class="inplace">
            {csrf}<input type="hidden" name="return" value="{returnTo}">
            <p>{c.What} The request goes through {cluster}'s queue: its worker applies it at its next reconcile.</p>
            <button type="submit" class="confirm-{c.Command.Name()}">Confirm {c.Command.Name()}</button>
            </form>
            <div class="result-slot" role="status"></div>
            </details>
            """)));
    }

    private static string Capitalized(string word) => char.ToUpperInvariant(word[0]) + word[1..];

    public static Markup Activity(MLRayConfig config, ActivityLog activity) => H($"""
        <p class="sub">The last {ActivityLog.PerCluster} reconciles per cluster, newest first, as the workers report them over the broker (fanout exchange
        <code>{PipelineTopology.ActivityExchange}</code>, a temporary queue per receiver) and kept in this receiver's memory: it starts empty when it restarts.</p>
        {Join(config.Clusters.Select(c => ActivityOf(c.Name, activity.Of(c.Name))))}
        """);

    private static Markup ActivityOf(string cluster, IReadOnlyList<ReconcileReported> reports) => H($"""
        <section aria-labelledby="act-{cluster}"><h2 id="act-{cluster}">{cluster}</h2>
        {(reports.Count == 0 ? H($"<p>No reconcile reported since this receiver started.</p>") : H($"""
            <table class="activity" data-cluster="{cluster}">
            <thead><tr><th scope="col">Time</th><th scope="col">Trigger</th><th scope="col">PUT</th><th scope="col">Decisions</th><th scope="col">Duration</th></tr></thead>
            <tbody>{Join(reports.Select(r => H($"<tr><td>{Clock(r.At)}</td><td>{string.Join(", ", r.Triggers)}</td><td class=\"put\">{(r.Applied ? "PUT" : "no change")}</td><td>{Join(r.Decisions.Select(d => H($"<div>{d}</div>")))}</td><td>{r.DurationSeconds:0.000} s</td></tr>")))}</tbody>
            </table>
            """))}
        </section>
        """);

    // ---- one cell -------------------------------------------------------------------------------------------------

    public static Markup CellPage(ConsoleView view, RayClusterConfig cluster, string model, RolloutStatus? rollout, string? rolloutProblem, Markup csrf, MLRayConfig config)
    {
        var row = view.Models?.FirstOrDefault(m => m.Cluster == cluster.Name && m.RegisteredModel == model);
        var version = row?.Version;
        var tags = version is null ? null : view.Snapshot?.TagsOf(model, version);
        var mine = tags?.Where(t => t.Key.StartsWith($"mlray.{cluster.Name}.", StringComparison.Ordinal)).OrderBy(t => t.Key, StringComparer.Ordinal).ToList() ?? [];
        var attempt = AttemptState.Parse(tags?.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Attempt)));
        var app = view.Status.Clusters.FirstOrDefault(c => c.Cluster.Name == cluster.Name)?.Apps.FirstOrDefault(a => a.ManagedModel == model && a.ManagedVersion == version)
                  ?? view.Status.Clusters.FirstOrDefault(c => c.Cluster.Name == cluster.Name)?.Apps.FirstOrDefault(a => a.ManagedModel == model);
        var letters = view.LettersOf(cluster.Name, model, null).ToList();
        var here = CellPath(cluster.Name, model);
        return H($"""
            <div id="stale">{Stale(view)}</div>
            <p id="cell-status">{(row is null ? H($"This model has no row on {cluster.Name}.") : H($"{Badge(row.Status)} version {version}; {ModelLink(config, model, version, "MLflow page")}"))}</p>
            {When(row is { Detail.Length: > 0 }, H($"<p class=\"detail\">{row?.Detail}</p>"))}
            <section aria-labelledby="h-tags"><h2 id="h-tags">Tags <code>mlray.{cluster.Name}.*</code> of version {version}</h2>
            {(mine.Count == 0 ? H($"<p>None.</p>") : H($"<dl class=\"tags\">{Join(mine.Select(t => H($"<dt>{t.Key}</dt><dd><pre>{t.Value}</pre></dd>")))}</dl>"))}
            </section>
            <section aria-labelledby="h-ray"><h2 id="h-ray">Ray</h2>
            {(app is null ? H($"<p>No app of this model on {cluster.Name}.</p>") : H($"<p>App <a href=\"{RayAppUri(cluster, app.Name)}\">{app.Name}</a> (version {app.ManagedVersion}): <strong>{app.Status}</strong></p><pre id=\"ray-message\">{(app.Status == AppStatus.Running ? app.Message : app.FailureMessage)}</pre>"))}
            </section>
            <section aria-labelledby="h-attempts"><h2 id="h-attempts">Attempts</h2>
            {(attempt is null ? H($"<p>No attempt recorded.</p>") : H($"""
                <dl class="attempts"><dt>attempts</dt><dd>{attempt.Attempts}</dd><dt>started</dt><dd>{Time(attempt.StartedAt)}</dd>
                <dt>first failure</dt><dd>{Time(attempt.FirstFailure)}</dd><dt>last failure</dt><dd>{Time(attempt.LastFailure)}</dd>
                <dt>next retry</dt><dd>{Time(attempt.RetryAt)}</dd><dt>dead letter</dt><dd>{attempt.DeadLetter ?? "—"}</dd><dt>smoke test</dt><dd>{attempt.SmokeTest ?? "—"}</dd></dl>
                {When(attempt.Error is not null, H($"<pre>{attempt.Error}</pre>"))}
                """))}
            </section>
            <section aria-labelledby="h-preflight"><h2 id="h-preflight">Pre-flight</h2>
            <pre id="preflight">{tags?.GetValueOrDefault(MLRayTags.Key(cluster.Name, MLRayTags.Preflight)) ?? "no verdict recorded"}</pre>
            </section>
            <section aria-labelledby="h-rollout"><h2 id="h-rollout">Rollout</h2>
            {(rollout is null ? H($"<p>{rolloutProblem ?? "Not read."}</p>") : RolloutDetail(rollout, csrf, here))}
            </section>
            <section aria-labelledby="h-letter"><h2 id="h-letter">Dead letters</h2>
            {(letters.Count == 0 ? H($"<p>None.</p>") : Join(letters.Select(l => H($"""
                <div class="letter" data-letter="{l.Id}"><p>Letter {l.Id}: version {l.Letter?.Version}, class {l.Letter?.FailureClass}, {l.Letter?.Attempts} attempt(s), dead-lettered {(l.DeadLetteredAt is { } at ? Clock(at) : "")}</p>
                <pre>{l.Letter?.Message ?? l.Problem}</pre>
                {ReplayControl(cluster.Name, model, l.Letter?.Version, [l], csrf, here)}{PurgeControl(cluster.Name, l, csrf, here)}</div>
                """))))}
            </section>
            """);
    }

    private static Markup RolloutDetail(RolloutStatus status, Markup csrf, string returnTo) => H($"""
        <p>Traffic: {status.Cluster.Serving.Traffic}; {(status.InProgress is { } v ? $"version {v.Version} rolling out at {v.Weight} %{(v.Rollout?.Paused == true ? " (paused)" : "")}" : "no rollout in progress")}.</p>
        <table><thead><tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Weight</th><th scope="col">Smoke test</th><th scope="col">Requests</th><th scope="col">Errors</th><th scope="col">p50 ms</th><th scope="col">p99 ms</th></tr></thead>
        <tbody>{Join(status.Versions.Select(v => H($"<tr><td>{v.Version}</td><td>{v.Status}</td><td>{v.Weight} %</td><td>{v.SmokeTest}</td><td>{v.Stats?.Requests}</td><td>{v.Stats?.Errors}</td><td>{v.Stats?.P50Ms}</td><td>{v.Stats?.P99Ms}</td></tr>")))}</tbody></table>
        {When(status.Stats is not null, H($"<p class=\"sub\">Gateway stats{(status.Stats?.Route is { } route ? $" for {route}" : "")}{(status.Stats?.WindowSeconds is { } w ? $" over {w} s" : "")}{(status.Stats?.Problem is { } p ? $": {p}" : "")}</p>"))}
        {RolloutControls(status, csrf, returnTo)}
        """);

    private static string Time(DateTimeOffset? at) => at is { } t ? Clock(t) : "—";
}
