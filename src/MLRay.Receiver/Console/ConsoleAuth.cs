using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using MLRay.Receiver.Ops;

namespace MLRay.Receiver.Console;

/// <summary>
/// Who may see the console: a browser with the session cookie the login form set, or a script with the ops token in an
/// <c>Authorization: Bearer</c> header. One policy scheme picks between the two by that header.
/// </summary>
internal static class ConsoleAuth
{
    public const string Scheme = "mlray-ops";
    public const string CookieScheme = "mlray-ops-cookie";
    public const string BearerScheme = "mlray-ops-bearer";
    public const string CookieName = "mlray-ops-session";
    public const string AntiforgeryCookieName = "mlray-ops-csrf";
    /// <summary>The antiforgery token's form field (ASP.NET's default name, spelled out for the pages and the tests).</summary>
    public const string AntiforgeryField = "__RequestVerificationToken";

    /// <summary>How long a login lasts (the ticket's expiry; not renewed by use).</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);

    public static void Add(IServiceCollection services, string opsToken)
    {
        // Cookies and antiforgery tokens are Data Protection payloads, under a key derived from the ops token: every receiver
        // with the same token (replicas, restarts, upgrades) reads the others' sessions, and a new token ends them all.
        OpsTokenKeyRing.Use(services.AddDataProtection().SetApplicationName("mlray-receiver"), opsToken);
        services.AddAuthentication()
            .AddPolicyScheme(Scheme, "ops token or session", o =>
                o.ForwardDefaultSelector = http => OpsTokenMatcher.BearerOf(http.Request) is null ? CookieScheme : BearerScheme)
            .AddScheme<AuthenticationSchemeOptions, OpsBearerHandler>(BearerScheme, null)
            .AddCookie(CookieScheme, o =>
            {
                o.Cookie.Name = CookieName;
                o.Cookie.Path = OpsConsoleExtensions.Root;
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;   // Secure whenever the console is reached over https
                o.ExpireTimeSpan = SessionLifetime;
                o.SlidingExpiration = false;   // the token is typed once per session, and a session ends
                o.LoginPath = OpsConsoleExtensions.LoginPath;
                o.ReturnUrlParameter = "return";
                o.Events.OnRedirectToLogin = context =>
                {
                    // A page asked for by a browser goes to the form; anything else (an action, the event stream) is a plain 401.
                    if (HttpMethods.IsGet(context.Request.Method) && !OpsConsoleExtensions.IsEventStream(context.Request))
                        context.Response.Redirect(context.RedirectUri);
                    else
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                };
            });
        services.AddAuthorizationBuilder().AddPolicy(Scheme, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = AntiforgeryCookieName;
            o.Cookie.Path = OpsConsoleExtensions.Root;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.FormFieldName = AntiforgeryField;
        });
    }

    public static ClaimsPrincipal Operator(string scheme) => new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "ops")], scheme));
}

/// <summary>The ops token in an <c>Authorization: Bearer</c> header: the same token the JSON API takes.</summary>
internal sealed class OpsBearerHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, OpsTokenMatcher token)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
        Task.FromResult(OpsTokenMatcher.BearerOf(Request) is not { } given ? AuthenticateResult.NoResult()
            : token.Matches(given) ? AuthenticateResult.Success(new AuthenticationTicket(ConsoleAuth.Operator(Scheme.Name), Scheme.Name))
            : AuthenticateResult.Fail("wrong token"));

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}

/// <summary>
/// The login form's back-off, per client address: after <see cref="OpsConsoleOptions.FreeLoginFailures"/> wrong tokens in
/// a row, each further attempt must wait twice as long as the last (1 s, 2 s, 4 s … up to <see cref="OpsConsoleOptions.MaxLoginBackoff"/>);
/// a right token clears it. In memory: a restart forgets, which costs a guesser nothing it did not have.
/// </summary>
internal sealed class LoginThrottle(IOptions<OpsConsoleOptions> options, TimeProvider time)
{
    private sealed record Failures(int Count, DateTimeOffset NextAllowed);

    private readonly ConcurrentDictionary<IPAddress, Failures> _failures = new();
    private OpsConsoleOptions Options => options.Value;

    /// <summary>How long <paramref name="client"/> must still wait before its next attempt counts (zero: it may try now).</summary>
    public TimeSpan WaitFor(IPAddress client) =>
        _failures.TryGetValue(client, out var f) && f.NextAllowed > time.GetUtcNow() ? f.NextAllowed - time.GetUtcNow() : TimeSpan.Zero;

    public void Failed(IPAddress client)
    {
        var now = time.GetUtcNow();
        _failures.AddOrUpdate(client, _ => Next(1, now), (_, f) => Next(f.Count + 1, now));
        if (_failures.Count > 10_000) _failures.Clear();   // a bound on memory, whoever sends the failures
    }

    public void Succeeded(IPAddress client) => _failures.TryRemove(client, out _);

    private Failures Next(int count, DateTimeOffset now)
    {
        var over = count - Options.FreeLoginFailures;
        var wait = over <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min(Math.Pow(2, over - 1), Options.MaxLoginBackoff.TotalSeconds));
        return new Failures(count, now + wait);
    }
}
