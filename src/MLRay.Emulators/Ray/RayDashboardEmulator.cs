using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// Ray dashboard emulator serving the Serve REST API (<c>/api/serve/applications/</c>) with Ray's semantics:
/// full-replace PUT, lazily evaluated status transitions, DEPLOY_FAILED messages in Ray's words, 400/500
/// text bodies, token auth and the browser guard. Binds 127.0.0.1 on a free port. The routes are here; the
/// cluster's state is in <see cref="RayClusterStore"/>, and what GET shows of it is rendered by <see cref="ServeStatusRenderer"/>.
/// On a second port (<see cref="ServeUri"/>) it is the cluster's Serve HTTP proxy, the data plane: <see cref="ServeProxy"/> routes
/// clients to the apps, whose answers (MLRay's model app and gateway) are <see cref="ServeDataPlane"/>'s.
/// </summary>
public sealed class RayDashboardEmulator : IAsyncDisposable
{
    private static readonly string[] HealthRoutes = ["/api/healthz", "/api/gcs_healthz", "/api/local_raylet_healthz", "/-/healthz"];

    private readonly RayClusterStore _store;
    private readonly ServeDataPlane _dataPlane;
    private EmulatorHost? _host;
    private EmulatorHost? _serveHost;

    private RayDashboardEmulator(RayEmulatorOptions options)
    {
        _store = new RayClusterStore(options);
        _dataPlane = new ServeDataPlane(_store);
    }

    /// <summary>Starts an emulator on 127.0.0.1: the dashboard on <see cref="RayEmulatorOptions.Port"/>, the Serve proxy on
    /// <see cref="RayEmulatorOptions.ServePort"/> (free ports by default).</summary>
    public static async Task<RayDashboardEmulator> StartAsync(RayEmulatorOptions? options = null, CancellationToken ct = default)
    {
        var emulator = new RayDashboardEmulator(options ?? new RayEmulatorOptions());
        try
        {
            emulator._host = await EmulatorHost.StartAsync("Ray dashboard", emulator.MapRoutes, ct, emulator.Options.Port).ConfigureAwait(false);
            var proxy = new ServeProxy(emulator._store, emulator._dataPlane);
            emulator._serveHost = await EmulatorHost.StartAsync("Ray Serve proxy", proxy.HandleAsync, ct, emulator.Options.ServePort).ConfigureAwait(false);
        }
        catch
        {
            await emulator.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return emulator;
    }

    /// <summary>Base address, e.g. <c>http://127.0.0.1:43121</c>.</summary>
    public Uri BaseUri => _host!.BaseUri;

    /// <summary>The Serve HTTP proxy (the data plane), e.g. <c>http://127.0.0.1:8000/</c>: a cluster's <c>serve_address</c>.</summary>
    public Uri ServeUri => _serveHost!.BaseUri;

    /// <summary>Every request the Serve proxy received, in arrival order, with the status returned.</summary>
    public IReadOnlyList<RecordedRequest> ServeRequests => _serveHost!.Requests;

    /// <summary>Every call of an app in the data plane, in the order answered: the proxy's (a client's request on a route) and
    /// the gateways' (each version app call, real or shadow copy, pinned or not, with its status).</summary>
    public IReadOnlyList<ServeAppCall> ServeCalls => _dataPlane.Calls;

    /// <summary>Completes when every gateway shadow call started so far has been answered (they run after the client's answer).</summary>
    public Task WhenShadowCallsDoneAsync() => _dataPlane.ShadowCallsDoneAsync();

    /// <summary>Replicas started per app, ever: a lightweight update (<c>user_config</c>, <c>num_replicas</c> kept) starts none;
    /// a code update (<c>import_path</c>, <c>args</c>, <c>runtime_env</c>) or an actor-options change starts new ones.</summary>
    public IReadOnlyDictionary<string, int> ReplicaStarts => _store.ReplicaStarts;

    /// <summary>Mutable behaviour knobs.</summary>
    public RayEmulatorOptions Options => _store.Options;

    /// <summary>Every request received, in arrival order, with the status returned.</summary>
    public IReadOnlyList<RecordedRequest> Requests => _host!.Requests;

    /// <summary>Raw body of every accepted (200) PUT of <c>/api/serve/applications/</c>.</summary>
    public IReadOnlyList<string> PutBodies => _store.PutBodies;

    /// <summary>Every app build that ran (pip install and import), and whether the bad-env cache answered it instead.</summary>
    public IReadOnlyList<BuildRecord> Builds => _store.Builds;

    /// <summary>Number of PUT requests that reached <c>/api/serve/applications/</c>, whatever their outcome
    /// (accepted ones are in <see cref="PutBodies"/>).</summary>
    public int PutCount => _store.PutCount;

    /// <summary>
    /// Adds an app as if created with <c>serve.run</c>: source "imperative", <c>deployed_app_config</c> null,
    /// RUNNING with one replica. Newest Ray (≥ 2.35) keeps it across declarative PUTs; older versions delete it.
    /// </summary>
    public void DeployImperativeApp(string name, string routePrefix) => _store.DeployImperativeApp(name, routePrefix);

    /// <summary>The app as GET would show it now (a detached copy), or null when absent.</summary>
    public JsonObject? GetApplication(string name) => _store.GetApplication(name);

    /// <summary>How many apps GET would show in each status now (<c>RUNNING</c>, <c>DEPLOYING</c>…), without rendering them.</summary>
    public IReadOnlyDictionary<string, int> StatusCounts() => _store.StatusCounts();

    public async ValueTask DisposeAsync()
    {
        if (_serveHost is not null) await _serveHost.DisposeAsync().ConfigureAwait(false);
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ routes

    /// <summary>Routes that answer without a token (Ray's health checks, and the auth mode itself).</summary>
    private sealed class NoAuthentication;

    /// <summary>Ray's aiohttp routes match the trailing slash exactly: <c>/api/serve/applications</c> is a 404.</summary>
    private sealed class TrailingSlashRequired;

    private void MapRoutes(WebApplication app)
    {
        app.Use(next => ctx => GuardAsync(ctx, next));

        var open = app.MapGroup("").WithMetadata(new NoAuthentication());
        foreach (var route in HealthRoutes)
            open.MapGet(route, ctx => Json.WriteTextAsync(ctx, 200, "success"));
        open.MapGet("/api/authentication_mode", ctx => Json.WriteAsync(ctx, 200,
            new JsonObject { ["authentication_mode"] = Options.AuthToken is null ? "disabled" : "token" }));

        var api = app.MapGroup("/api");
        api.MapGet("/ray/version", ctx => Json.WriteAsync(ctx, 200, new JsonObject
        {
            ["version"] = "4",
            ["ray_version"] = Options.RayVersion,
            ["ray_commit"] = _store.Cluster.RayCommit,
            ["session_name"] = _store.Cluster.SessionName,
        }));
        api.Map("/ray/version", MethodNotAllowedAsync).WithOrder(1);

        var applications = api.MapGroup("/serve/applications/").WithMetadata(new TrailingSlashRequired());
        applications.MapGet("", GetApplicationsAsync);
        applications.MapPut("", PutApplicationsAsync);
        applications.MapDelete("", ctx =>
        {
            _store.ShutdownServe();
            return Json.WriteTextAsync(ctx, 200, "", "application/octet-stream");
        });
        applications.Map("", MethodNotAllowedAsync).WithOrder(1); // any other method; the mapped ones win on order

        app.MapFallback("{**path}", ctx => Json.WriteTextAsync(ctx, 404, "404: Not Found"));
    }

    private static Task MethodNotAllowedAsync(HttpContext ctx) => Json.WriteTextAsync(ctx, 405, "405: Method Not Allowed");

    /// <summary>
    /// What Ray checks before any route, in its order: injected delay and dropped connections, then (except on the
    /// open routes) the token, then the browser guard on writes; then the exact trailing slash.
    /// </summary>
    private async Task GuardAsync(HttpContext ctx, RequestDelegate next)
    {
        var delay = Options.ResponseDelay;
        if (delay > TimeSpan.Zero) await Task.Delay(delay, ctx.RequestAborted).ConfigureAwait(false);
        if (_store.TryConsume(() => Options.DropNextRequests, v => Options.DropNextRequests = v))
        {
            ctx.Items[Internal.EmulatorHost.DroppedKey] = true;
            ctx.Abort();
            return;
        }
        if (_store.TryConsume(() => Options.TimeOutNextRequests, v => Options.TimeOutNextRequests = v))
        {
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ConfigureAwait(false); // ends when the client gives up
            return;
        }
        var endpoint = ctx.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<NoAuthentication>() is null)
        {
            if (Unauthenticated(ctx.Request) is { } refusal)
            {
                await Json.WriteTextAsync(ctx, refusal.Status, refusal.Text).ConfigureAwait(false);
                return;
            }
            if (ctx.Request.Method.ToUpperInvariant() is "PUT" or "POST" or "DELETE" && LooksLikeBrowser(ctx.Request))
            {
                await Json.WriteTextAsync(ctx, 405, "Method Not Allowed for browser traffic.").ConfigureAwait(false);
                return;
            }
        }
        if (endpoint?.Metadata.GetMetadata<TrailingSlashRequired>() is not null && !ctx.Request.Path.Value!.EndsWith('/'))
        {
            await Json.WriteTextAsync(ctx, 404, "404: Not Found").ConfigureAwait(false);
            return;
        }
        await next(ctx).ConfigureAwait(false);
    }

    /// <summary>401/403 in token auth mode without a valid token; null when the request may go on.</summary>
    private (int Status, string Text)? Unauthenticated(HttpRequest request)
    {
        if (Options.AuthToken is not { } token) return null;
        // Authorization, then the X-Ray-Authorization fallback (KubeRay / proxies), then the web UI cookie.
        var presented = new List<string>();
        foreach (var header in new[] { request.Headers.Authorization.ToString(), request.Headers["X-Ray-Authorization"].ToString() })
        {
            if (string.IsNullOrWhiteSpace(header)) continue;
            presented.Add(header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "");
        }
        if (request.Cookies["ray-authentication-token"] is { Length: > 0 } cookie) presented.Add(cookie);
        if (presented.Count == 0) return (401, "Unauthorized: Missing authentication token");
        return presented.Contains(token, StringComparer.Ordinal) ? null : (403, "Forbidden: Invalid authentication token");
    }

    private static bool LooksLikeBrowser(HttpRequest request)
    {
        if (request.Headers.UserAgent.ToString().StartsWith("Mozilla", StringComparison.Ordinal)) return true;
        foreach (var h in request.Headers)
        {
            if (h.Key.Equals("Origin", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("Referer", StringComparison.OrdinalIgnoreCase)
                || h.Key.StartsWith("Sec-Fetch-", StringComparison.OrdinalIgnoreCase)
                || h.Key.StartsWith("Access-Control-Request-", StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    private async Task GetApplicationsAsync(HttpContext ctx)
    {
        if (_store.TryConsume(() => Options.FailNextGets, v => Options.FailNextGets = v))
        {
            await ControllerUnavailableAsync(ctx).ConfigureAwait(false);
            return;
        }
        string? apiType = null;
        if (Options.RayVersionAtLeast(2, 50) && ctx.Request.Query.TryGetValue("api_type", out var values))
        {
            apiType = values.ToString();
            if (apiType is not ("declarative" or "imperative"))
            {
                await Json.WriteTextAsync(ctx, 400,
                    $"Invalid 'api_type' value: '{apiType}'. Must be one of ['imperative', 'declarative']").ConfigureAwait(false);
                return;
            }
        }
        await Json.WriteAsync(ctx, 200, _store.Instance(apiType)).ConfigureAwait(false);
    }

    /// <summary>The dashboard's 503 when its Serve controller does not answer (with <c>Retry-After</c> when configured).</summary>
    private Task ControllerUnavailableAsync(HttpContext ctx)
    {
        if (Options.RetryAfter is { } after)
            ctx.Response.Headers.RetryAfter = ((int)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Json.WriteTextAsync(ctx, 503,
            "Failed to get a response from the controller. The GCS may be down, try again later: ray.exceptions.GetTimeoutError: Get timed out: some object(s) not ready.");
    }

    private async Task PutApplicationsAsync(HttpContext ctx)
    {
        _store.CountPut();
        if (_store.TryConsume(() => Options.UnavailableNextPuts, v => Options.UnavailableNextPuts = v))
        {
            await ControllerUnavailableAsync(ctx).ConfigureAwait(false);
            return;
        }
        if (_store.TryConsume(() => Options.FailNextPuts, v => Options.FailNextPuts = v))
        {
            await Json.WriteTextAsync(ctx, 500, RayMessages.InjectedPutFailure(Options.PythonVersion)).ConfigureAwait(false);
            return;
        }
        var raw = Json.Body(ctx);
        JsonNode? body;
        try
        {
            body = JsonNode.Parse(raw, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            var line = (e.LineNumber ?? 0) + 1;
            var col = (e.BytePositionInLine ?? 0) + 1;
            var detail = $"Expecting value: line {line} column {col} (char {Math.Max(0, col - 1)})";
            if (raw.TrimStart().StartsWith('{') && !raw.TrimStart().StartsWith("{\"", StringComparison.Ordinal) && raw.Trim() != "{}")
                detail = $"Expecting property name enclosed in double quotes: line {line} column {col} (char {Math.Max(0, col - 1)})";
            await Json.WriteTextAsync(ctx, 500, RayMessages.JsonDecodeTraceback(Options.PythonVersion, detail)).ConfigureAwait(false);
            return;
        }
        var errors = ServeValidation.Validate(body);
        if (errors.Count > 0)
        {
            await Json.WriteTextAsync(ctx, 400, ServeValidation.Render(errors)).ConfigureAwait(false);
            return;
        }
        var root = (JsonObject)body!;
        if (ServeValidation.ControllerError(root) is { } controllerError)
        {
            await Json.WriteTextAsync(ctx, 400,
                RayMessages.ControllerTaskError(Options.PythonVersion, _store.Cluster.ControllerPid, _store.Cluster.ControllerActorId, controllerError)).ConfigureAwait(false);
            return;
        }
        _store.Apply(root, raw);
        await Json.WriteTextAsync(ctx, 200, "", "application/octet-stream").ConfigureAwait(false);
    }
}

/// <summary>One app build in the Ray emulator: a real install attempt, or one the 10-minute bad-env cache failed at once.</summary>
public sealed record BuildRecord(string App, string RuntimeEnv, bool FromBadEnvCache, bool Failed);
