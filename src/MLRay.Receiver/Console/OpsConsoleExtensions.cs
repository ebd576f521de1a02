using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Rollouts;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Workers;
using MLRay.Receiver.Ops;

namespace MLRay.Receiver.Console;

/// <summary>The console's settings (tests shorten them; the receiver's config has no keys for them).</summary>
public sealed class OpsConsoleOptions
{
    /// <summary>The live feed's reads while a page listens: at most one per this interval, after a reconcile was reported or an action done.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>…and one per this interval when nothing was reported (what changed without a reconcile, and whether MLflow, Ray and the broker still answer).</summary>
    public TimeSpan IdleRefreshInterval { get; set; } = TimeSpan.FromSeconds(15);
    /// <summary>Wrong tokens a client may send in a row before the back-off starts.</summary>
    public int FreeLoginFailures { get; set; } = 3;
    public TimeSpan MaxLoginBackoff { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The ops console: HTML pages under <c>/ops/</c> for operators — every model on every cluster, dead letters, rollouts,
/// live updates — on the same services as <c>mlray status</c>, <c>mlray dlq</c> and <c>mlray rollout</c>. Served only when
/// an ops token is configured (else every path here is 404, as the JSON API's).
/// </summary>
public static class OpsConsoleExtensions
{
    public const string Root = "/ops";
    public const string OverviewPath = "/ops/";
    public const string LoginPath = "/ops/login";
    public const string LogoutPath = "/ops/logout";
    public const string ConsolePath = "/ops/console";
    public const string StaticPath = ConsolePath + "/static";
    public const string EventsPath = ConsolePath + "/events";
    public const string CellPath = ConsolePath + "/cell";
    public const string DeadLettersPath = ConsolePath + "/dead-letters";
    public const string RolloutsPath = ConsolePath + "/rollouts";
    public const string ActivityPath = ConsolePath + "/activity";
    /// <summary>The header console.js sends with a form it submits itself: the answer is then the result's HTML alone, not a redirect.</summary>
    public const string InPlaceHeader = "X-MLRay-Console";

    public static bool IsEventStream(HttpRequest request) => request.Path.StartsWithSegments(EventsPath);

    public static IServiceCollection AddOpsConsole(this IServiceCollection services, MLRayConfig config)
    {
        if (config.Pipeline.OpsToken is not { } token) return services;
        services.AddOptions<OpsConsoleOptions>();
        services.TryAddSingleton(new OpsTokenMatcher(token));
        services.TryAddSingleton(sp => new StatusReader(config, sp.GetRequiredService<ClusterReconcilers>(), sp.GetRequiredService<RegistryReader>()));
        services.TryAddSingleton<ConsoleState>();
        services.TryAddSingleton<ActivityLog>();   // filled by the bus's ReconcileReportedConsumer
        services.TryAddSingleton<ConsoleFeed>();
        services.TryAddSingleton<LoginThrottle>();
        ConsoleAuth.Add(services, token);
        return services;
    }

    /// <summary>Maps the console when an ops token is configured; returns whether it did.</summary>
    public static bool MapOpsConsole(this WebApplication app, MLRayConfig config)
    {
        if (config.Pipeline.OpsToken is null) return false;
        app.UseAuthentication();
        app.UseAuthorization();
        // The script and the style sheet are embedded in the receiver (no build chain, no CDN): no data, so no login needed.
        app.MapGet(StaticPath + "/{file}", (string file) =>
            file is "console.js" or "console.css" && typeof(OpsConsoleExtensions).Assembly.GetManifestResourceStream("console/" + file) is { } stream
                ? Results.Stream(stream, file.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8")
                : Results.NotFound()).AllowAnonymous();

        app.MapGet(LoginPath, (HttpContext http, string? @return) => Page(http, csrf => ConsolePages.Login(csrf, null, LocalReturn(@return)))).AllowAnonymous();
        app.MapPost(LoginPath, LoginAsync).AllowAnonymous().AddEndpointFilter<AntiforgeryCheck>();
        app.MapPost(LogoutPath, async (HttpContext http) =>
        {
            await http.SignOutAsync(ConsoleAuth.CookieScheme);
            return Results.Redirect(LoginPath, permanent: false, preserveMethod: false);
        }).RequireAuthorization(ConsoleAuth.Scheme).AddEndpointFilter<AntiforgeryCheck>();

        var pages = app.MapGroup(Root).RequireAuthorization(ConsoleAuth.Scheme);
        pages.MapGet("/", async (HttpContext http, ConsoleState state, string? name, string? status, string? result, CancellationToken ct) =>
        {
            var view = await state.ReadAsync(ct);
            var filter = new OverviewFilter(name, status);
            return Page(http, csrf => ConsolePages.Layout("Models on clusters", ConsolePages.Overview(view, filter, csrf, config), csrf, result,
                EventsPath + (filter.Query is { Length: > 0 } q ? "?" + q : "")));
        });
        pages.MapGet("/console/events", EventsAsync);
        pages.MapGet("/console/cell/{cluster}/{model}", async (HttpContext http, string cluster, string model, string? result, ConsoleState state,
            RolloutOperations rollouts, CancellationToken ct) =>
        {
            if (Known(config, cluster) is not { } known) return Results.NotFound();
            var view = await state.ReadAsync(ct);
            RolloutStatus? rollout = null;
            string? problem = null;
            try
            {
                rollout = await rollouts.StatusAsync(known, model, ct);
            }
            catch (Exception e) when (e is RolloutRefusedException || ServiceErrors.IsServiceError(e))
            {
                problem = e is RolloutRefusedException ? e.Message : string.Join("; ", ServiceErrors.Describe(e, config, known));
            }
            return Page(http, csrf => ConsolePages.Layout($"{model} on {known.Name}", ConsolePages.CellPage(view, known, model, rollout, problem, csrf, config), csrf, result));
        });
        pages.MapGet("/console/dead-letters", async (HttpContext http, DeadLetterOperations operations, string? result, CancellationToken ct) =>
        {
            var (listing, error) = await Try(() => operations.ListAsync(null, ct), config);
            return Page(http, csrf => ConsolePages.Layout("Dead letters",
                listing is null ? H.Error(error!) : ConsolePages.DeadLetters(listing, csrf), csrf, result));
        });
        pages.MapGet("/console/rollouts", async (HttpContext http, RolloutOperations operations, string? result, CancellationToken ct) =>
        {
            var (rollouts, error) = await Try(() => operations.ListAsync(null, ct), config);
            return Page(http, csrf => ConsolePages.Layout("Rollouts in progress",
                rollouts is null ? H.Error(error!) : ConsolePages.Rollouts(rollouts, csrf), csrf, result));
        });
        pages.MapGet("/console/activity", (HttpContext http, ActivityLog activity) =>
            Page(http, csrf => ConsolePages.Layout("Activity", ConsolePages.Activity(config, activity), csrf)));

        var actions = app.MapGroup(ConsolePath).RequireAuthorization(ConsoleAuth.Scheme).AddEndpointFilter<AntiforgeryCheck>();
        actions.MapPost("/dead-letters/{cluster}/{verb}", async (HttpContext http, string cluster, string verb, DeadLetterOperations operations,
            ConsoleFeed feed, ILogger<ConsoleState> log, CancellationToken ct) =>
        {
            if (Known(config, cluster) is not { } known || verb is not ("replay" or "purge")) return Results.NotFound();
            var form = await http.Request.ReadFormAsync(ct);
            var selection = new LetterSelection { Ids = [.. form["id"].OfType<string>()] };
            if (selection.Problem is { } problem) return Answer(http, form, problem, ok: false);
            var (outcome, error) = await Try(() => verb == "replay" ? operations.ReplayAsync(known, selection, ct) : operations.PurgeAsync(known, selection, ct), config);
            if (outcome is null) return Answer(http, form, error!, ok: false);
            feed.Changed();
            log.LogInformation("Ops console {Verb}ed {Count} dead letter(s) of {Cluster}: {Ids}", verb == "replay" ? "replay" : "purg", outcome.Removed.Count, known.Name,
                outcome.Removed.Select(e => e.Id));
            var done = outcome.Removed.Select(e => $"{(verb == "replay" ? "replayed" : "purged")} {e.Letter?.RegisteredModel} version {e.Letter?.Version} (letter {e.Id})");
            return Answer(http, form, string.Join("; ", done.Concat(outcome.Problems)), ok: outcome.Removed.Count > 0);
        });
        actions.MapPost("/rollouts/{cluster}/{model}/{command}", async (HttpContext http, string cluster, string model, string command, RolloutOperations operations,
            ConsoleFeed feed, ILogger<ConsoleState> log, CancellationToken ct) =>
        {
            if (Known(config, cluster) is not { } known) return Results.NotFound();
            var form = await http.Request.ReadFormAsync(ct);
            RolloutCommand asked;
            try
            {
                asked = RolloutCommands.Parse(command);
            }
            catch (ArgumentException e)
            {
                return Answer(http, form, e.Message, ok: false);
            }
            var (sent, error) = await Try(() => operations.SendAsync(known, model, asked, ct), config);
            if (sent is null) return Answer(http, form, error!, ok: false);
            feed.Changed();
            log.LogInformation("Ops console asked {Cluster} to {Command} the rollout of {Model} (version {Version}) through {Queue}",
                sent.Cluster, asked.Name(), sent.RegisteredModel, sent.Rollout.Version, sent.Queue);
            return Answer(http, form, $"asked {sent.Cluster} to {asked.Name()} the rollout of {sent.RegisteredModel} (version {sent.Rollout.Version}): queued in {sent.Queue}, its worker applies it at its next reconcile", ok: true);
        });
        return true;
    }

    private static async Task<IResult> LoginAsync(HttpContext http, OpsTokenMatcher token, LoginThrottle throttle, ILogger<ConsoleState> log)
    {
        var form = await http.Request.ReadFormAsync();
        var back = LocalReturn(form["return"]);
        var client = http.Connection.RemoteIpAddress ?? IPAddress.None;
        if (throttle.WaitFor(client) is { } wait && wait > TimeSpan.Zero)
        {
            http.Response.Headers.RetryAfter = Math.Ceiling(wait.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Page(http, csrf => ConsolePages.Login(csrf, $"Too many wrong tokens: try again in {Math.Ceiling(wait.TotalSeconds)} s.", back), StatusCodes.Status429TooManyRequests);
        }
        if (!token.Matches(form["token"].ToString()))
        {
            throttle.Failed(client);
            log.LogWarning("Ops console: wrong token from {Client}", client);   // the address, never what was typed
            return Page(http, csrf => ConsolePages.Login(csrf, "Wrong token.", back), StatusCodes.Status401Unauthorized);
        }
        throttle.Succeeded(client);
        await http.SignInAsync(ConsoleAuth.CookieScheme, ConsoleAuth.Operator(ConsoleAuth.CookieScheme));
        log.LogInformation("Ops console: logged in from {Client}", client);
        return Results.Redirect(back);
    }

    /// <summary>The live overview: an <c>overview</c> event (counts, staleness, rows as HTML) whenever what it shows changed.</summary>
    private static readonly JsonSerializerOptions EventJson = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private static async Task EventsAsync(HttpContext http, ConsoleFeed feed, IAntiforgery antiforgery, string? name, string? status, CancellationToken ct)
    {
        // The forms in the rows carry this request's token: made (and its cookie set) before the stream starts.
        var csrf = ConsolePages.Csrf(antiforgery.GetAndStoreTokens(http).RequestToken!);
        var config = http.RequestServices.GetRequiredService<MLRayConfig>();
        var filter = new OverviewFilter(name, status);
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-store";
        await http.Response.WriteAsync(": live\n\n", ct);
        await http.Response.Body.FlushAsync(ct);
        string? last = null;
        // What this page shows: each row's HTML by key. The first event and any change of the rows themselves (a model
        // added, removed or filtered in) send every row; otherwise only the rows that changed — at 1,000 models the whole
        // table is a megabyte, and a read follows every reported reconcile.
        var shown = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            await foreach (var view in feed.ListenAsync(ct))
            {
                var rows = ConsolePages.RowsByKey(view, filter, csrf, config);
                var sameRows = rows.Count == shown.Count && rows.All(r => shown.ContainsKey(r.Key));
                var changed = sameRows ? rows.Where(r => shown[r.Key] != r.Html.Value).ToDictionary(r => r.Key, r => r.Html.Value) : null;
                shown = rows.ToDictionary(r => r.Key, r => r.Html.Value, StringComparer.Ordinal);
                var data = JsonSerializer.Serialize(new
                {
                    read_at = view.ReadAt,
                    stale = view.Stale || view.ModelsAsOf is not null,
                    counts = ConsolePages.Counts(view).Value,
                    banner = ConsolePages.Stale(view).Value,
                    rows = sameRows ? null : string.Concat(rows.Select(r => r.Html.Value)),
                    changed_rows = changed is { Count: > 0 } ? changed : null,
                }, EventJson);
                if (data == last) continue;
                last = data;
                await http.Response.WriteAsync($"event: overview\ndata: {data}\n\n", ct);
                await http.Response.Body.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // the page went away
        }
    }

    private static IResult Page(HttpContext http, Func<Markup, Markup> page, int statusCode = StatusCodes.Status200OK)
    {
        var tokens = http.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(http);
        var headers = http.Response.Headers;
        // Nothing but this origin's own script and styles; no framing, no posting elsewhere; never cached.
        headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        headers.CacheControl = "no-store";
        return Results.Content(page(ConsolePages.Csrf(tokens.RequestToken!)).Value, "text/html; charset=utf-8", statusCode: statusCode);
    }

    /// <summary>A form's answer: the result's HTML alone for console.js; else back to the page it came from, with the result.</summary>
    private static IResult Answer(HttpContext http, IFormCollection form, string message, bool ok)
    {
        if (http.Request.Headers.ContainsKey(InPlaceHeader))
            return Results.Content(Html.H($"<p class=\"result {(ok ? "ok" : "error")}\">{(ok ? "✔ " : "✖ ")}{message}</p>").Value, "text/html; charset=utf-8",
                statusCode: ok ? StatusCodes.Status200OK : StatusCodes.Status409Conflict);
        var back = LocalReturn(form["return"]);
        return Results.Redirect(back + (back.Contains('?') ? "&" : "?") + "result=" + Uri.EscapeDataString((ok ? "✔ " : "✖ ") + message));
    }

    /// <summary>Only a console path is a place to go back to: never another site (an open redirect).</summary>
    private static string LocalReturn(string? path) =>
        path is { Length: > 0 } p && p.StartsWith(Root + "/", StringComparison.Ordinal) && !p.StartsWith("//", StringComparison.Ordinal) && !p.Contains('\\') ? p : OverviewPath;

    private static RayClusterConfig? Known(MLRayConfig config, string cluster) => config.Clusters.FirstOrDefault(c => c.Name == cluster);

    /// <summary>The operation's answer, or what failed in the words the JSON API uses (broker, MLflow, a refused rollout command).</summary>
    private static async Task<(T? Value, string? Error)> Try<T>(Func<Task<T>> operation, MLRayConfig config) where T : class
    {
        try
        {
            return (await operation(), null);
        }
        catch (Exception e) when (e is BrokerException or RolloutRefusedException)
        {
            return (null, e.Message);
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e))
        {
            return (null, string.Join("; ", ServiceErrors.Describe(e, config)));
        }
    }

    private static class H
    {
        public static Markup Error(string error) => Html.H($"<p class=\"error\" role=\"alert\">{error}</p>");
    }
}

/// <summary>
/// ASP.NET Core's antiforgery check on every console form post (login, logout, replay, purge, rollout commands): a post
/// without the page's token — another site's form, a script without the cookie pair — is 400, and does nothing.
/// </summary>
internal sealed class AntiforgeryCheck(IAntiforgery antiforgery) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        await antiforgery.IsRequestValidAsync(context.HttpContext)
            ? await next(context)
            : Results.Text("refused: this form's anti-forgery token is missing or wrong (reload the console's page and try again)", statusCode: StatusCodes.Status400BadRequest);
}
