using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// Ray dashboard emulator serving the Serve REST API (<c>/api/serve/applications/</c>) with Ray's semantics:
/// full-replace PUT, lazily evaluated status transitions, DEPLOY_FAILED messages in Ray's words, 400/500
/// text bodies, token auth and the browser guard. Binds 127.0.0.1 on a free port.
/// </summary>
public sealed partial class RayDashboardEmulator : IAsyncDisposable
{
    private const string ApplicationsRoute = "/api/serve/applications/";
    private static readonly string[] HealthRoutes = ["/api/healthz", "/api/gcs_healthz", "/api/local_raylet_healthz", "/-/healthz"];

    private readonly object _lock = new();
    private readonly List<string> _putBodies = new();
    private readonly List<BuildRecord> _builds = new();
    private int _putCount;
    private EmulatorHost? _host;

    private RayDashboardEmulator(RayEmulatorOptions options)
    {
        Options = options;
        _nodeId = RandomHex(56);
        _controllerActorId = RandomHex(32);
        _controllerWorkerId = RandomHex(56);
        _controllerPid = Random.Shared.Next(1000, 60000);
        _proxyActorId = RandomHex(32);
        _proxyWorkerId = RandomHex(56);
        _proxyPid = Random.Shared.Next(1000, 60000);
        _rayCommit = RandomHex(40);
        _sessionName = "session_" + DateTime.UtcNow.ToString("yyyy-MM-dd_HH-mm-ss_ffffff", CultureInfo.InvariantCulture) + "_" + Random.Shared.Next(1, 9999).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Starts an emulator on 127.0.0.1 with a free port.</summary>
    public static async Task<RayDashboardEmulator> StartAsync(RayEmulatorOptions? options = null, CancellationToken ct = default)
    {
        var emulator = new RayDashboardEmulator(options ?? new RayEmulatorOptions());
        emulator._host = await EmulatorHost.StartAsync("Ray dashboard", emulator.HandleAsync, ct).ConfigureAwait(false);
        return emulator;
    }

    /// <summary>Base address, e.g. <c>http://127.0.0.1:43121</c>.</summary>
    public Uri BaseUri => _host!.BaseUri;

    /// <summary>Mutable behaviour knobs.</summary>
    public RayEmulatorOptions Options { get; }

    /// <summary>Every request received, in arrival order, with the status returned.</summary>
    public IReadOnlyList<RecordedRequest> Requests => _host!.Requests;

    /// <summary>Raw body of every accepted (200) PUT of <c>/api/serve/applications/</c>.</summary>
    public IReadOnlyList<string> PutBodies
    {
        get { lock (_lock) return _putBodies.ToArray(); }
    }

    /// <summary>Every app build that ran (pip install and import), and whether the bad-env cache answered it instead.</summary>
    public IReadOnlyList<BuildRecord> Builds
    {
        get { lock (_lock) return _builds.ToArray(); }
    }

    /// <summary>Number of PUT requests that reached <c>/api/serve/applications/</c>, whatever their outcome
    /// (accepted ones are in <see cref="PutBodies"/>).</summary>
    public int PutCount
    {
        get { lock (_lock) return _putCount; }
    }

    /// <summary>
    /// Adds an app as if created with <c>serve.run</c>: source "imperative", <c>deployed_app_config</c> null,
    /// RUNNING with one replica. Newest Ray (≥ 2.35) keeps it across declarative PUTs; older versions delete it.
    /// </summary>
    public void DeployImperativeApp(string name, string routePrefix)
    {
        lock (_lock)
        {
            var now = Now();
            Advance(now);
            if (!_started) StartServe(null);
            _apps.RemoveAll(a => a.Name == name);
            var depName = Options.AvailableDeployments.OrderBy(d => d, StringComparer.Ordinal).FirstOrDefault() ?? "MLflowModel";
            var app = new AppState
            {
                Name = name,
                Source = "imperative",
                HasBuilt = true,
                RoutePrefix = routePrefix,
                LastDeployed = UnixSeconds(now),
                Phase = Phase.Running,
            };
            var dep = BuildDeployment(name, depName, null, new JsonObject(), "imperative:" + name);
            dep.Status = "HEALTHY";
            dep.Trigger = "CONFIG_UPDATE_COMPLETED";
            dep.Replicas.Add(NewReplica(now, running: true));
            app.Deployments.Add(dep);
            _apps.Add(app);
        }
    }

    /// <summary>The app as GET would show it now (a detached copy), or null when absent.</summary>
    public JsonObject? GetApplication(string name)
    {
        lock (_lock)
        {
            Advance(Now());
            var app = _apps.FirstOrDefault(a => a.Name == name);
            return app is null ? null : RenderApp(app);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ HTTP

    private async Task HandleAsync(HttpContext ctx)
    {
        var delay = Options.ResponseDelay;
        if (delay > TimeSpan.Zero) await Task.Delay(delay, ctx.RequestAborted).ConfigureAwait(false);
        if (Consume(() => Options.DropNextRequests, v => Options.DropNextRequests = v))
        {
            ctx.Abort();
            return;
        }

        var path = ctx.Request.Path.Value ?? "/";
        var method = ctx.Request.Method.ToUpperInvariant();

        if (HealthRoutes.Contains(path))
        {
            await Json.WriteTextAsync(ctx, 200, "success").ConfigureAwait(false);
            return;
        }
        if (path == "/api/authentication_mode")
        {
            await Json.WriteAsync(ctx, 200, new JsonObject { ["authentication_mode"] = Options.AuthToken is null ? "disabled" : "token" }).ConfigureAwait(false);
            return;
        }

        if (Options.AuthToken is { } token)
        {
            // Authorization, then the X-Ray-Authorization fallback (KubeRay / proxies), then the web UI cookie.
            var presented = new List<string>();
            foreach (var header in new[] { ctx.Request.Headers.Authorization.ToString(), ctx.Request.Headers["X-Ray-Authorization"].ToString() })
            {
                if (string.IsNullOrWhiteSpace(header)) continue;
                presented.Add(header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "");
            }
            if (ctx.Request.Cookies["ray-authentication-token"] is { Length: > 0 } cookie) presented.Add(cookie);
            if (presented.Count == 0)
            {
                await Json.WriteTextAsync(ctx, 401, "Unauthorized: Missing authentication token").ConfigureAwait(false);
                return;
            }
            if (!presented.Contains(token, StringComparer.Ordinal))
            {
                await Json.WriteTextAsync(ctx, 403, "Forbidden: Invalid authentication token").ConfigureAwait(false);
                return;
            }
        }

        if (method is "PUT" or "POST" or "DELETE" && LooksLikeBrowser(ctx.Request))
        {
            await Json.WriteTextAsync(ctx, 405, "Method Not Allowed for browser traffic.").ConfigureAwait(false);
            return;
        }

        switch (path)
        {
            case "/api/ray/version" when method == "GET":
                await Json.WriteAsync(ctx, 200, new JsonObject
                {
                    ["version"] = "4",
                    ["ray_version"] = Options.RayVersion,
                    ["ray_commit"] = _rayCommit,
                    ["session_name"] = _sessionName,
                }).ConfigureAwait(false);
                return;
            case ApplicationsRoute when method == "GET":
                await GetApplicationsAsync(ctx).ConfigureAwait(false);
                return;
            case ApplicationsRoute when method == "PUT":
                await PutApplicationsAsync(ctx).ConfigureAwait(false);
                return;
            case ApplicationsRoute when method == "DELETE":
                lock (_lock) Shutdown();
                await Json.WriteTextAsync(ctx, 200, "", "application/octet-stream").ConfigureAwait(false);
                return;
            case ApplicationsRoute or "/api/ray/version":
                await Json.WriteTextAsync(ctx, 405, "405: Method Not Allowed").ConfigureAwait(false);
                return;
            default:
                await Json.WriteTextAsync(ctx, 404, "404: Not Found").ConfigureAwait(false);
                return;
        }
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

    private bool Consume(Func<int> get, Action<int> set)
    {
        lock (_lock)
        {
            var v = get();
            if (v <= 0) return false;
            set(v - 1);
            return true;
        }
    }

    private async Task GetApplicationsAsync(HttpContext ctx)
    {
        if (Consume(() => Options.FailNextGets, v => Options.FailNextGets = v))
        {
            await Json.WriteTextAsync(ctx, 503,
                "Failed to get a response from the controller. The GCS may be down, try again later: ray.exceptions.GetTimeoutError: Get timed out: some object(s) not ready.").ConfigureAwait(false);
            return;
        }
        string? apiType = null;
        if (VersionAtLeast(2, 50) && ctx.Request.Query.TryGetValue("api_type", out var values))
        {
            apiType = values.ToString();
            if (apiType is not ("declarative" or "imperative"))
            {
                await Json.WriteTextAsync(ctx, 400,
                    $"Invalid 'api_type' value: '{apiType}'. Must be one of ['imperative', 'declarative']").ConfigureAwait(false);
                return;
            }
        }
        JsonObject body;
        lock (_lock)
        {
            Advance(Now());
            body = RenderInstance(apiType);
        }
        await Json.WriteAsync(ctx, 200, body).ConfigureAwait(false);
    }

    private async Task PutApplicationsAsync(HttpContext ctx)
    {
        lock (_lock) _putCount++;
        if (Consume(() => Options.FailNextPuts, v => Options.FailNextPuts = v))
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
                RayMessages.ControllerTaskError(Options.PythonVersion, _controllerPid, _controllerActorId, controllerError)).ConfigureAwait(false);
            return;
        }
        lock (_lock)
        {
            Apply(root, Now());
            _putBodies.Add(raw);
        }
        await Json.WriteTextAsync(ctx, 200, "", "application/octet-stream").ConfigureAwait(false);
    }

    private bool VersionAtLeast(int major, int minor)
    {
        var parts = Options.RayVersion.Split('.', '-', '+');
        if (parts.Length < 2 || !int.TryParse(parts[0], out var ma) || !int.TryParse(parts[1], out var mi)) return true;
        return ma > major || (ma == major && mi >= minor);
    }

    private DateTime Now() => (Options.TimeProvider ?? TimeProvider.System).GetUtcNow().UtcDateTime;

    private static double UnixSeconds(DateTime utc) => (utc - DateTime.UnixEpoch).TotalMilliseconds / 1000.0;

    private static string RandomHex(int length)
    {
        var bytes = new byte[(length + 1) / 2];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexString(bytes).ToLowerInvariant()[..length];
    }

    private static string RandomReplicaId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(8, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[Random.Shared.Next(alphabet.Length)];
        });
    }
}

/// <summary>One app build in the Ray emulator: a real install attempt, or one the 10-minute bad-env cache failed at once.</summary>
public sealed record BuildRecord(string App, string RuntimeEnv, bool FromBadEnvCache, bool Failed);
