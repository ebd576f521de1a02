using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace MLRay.Emulators.Ray;

// MLRay's gateway app (docs/serving.md): routes by the routing table in its deployment's user_config, pins, weighted draws,
// shadow copies, and the stats of its calls.
internal sealed partial class ServeDataPlane
{
    private const string PinHeader = "mlray-version";
    private readonly Dictionary<string, (string ReplicaVersion, GatewayStats Stats)> _gatewayStats = new(StringComparer.Ordinal);

    private async Task<AppAnswer> GatewayAsync(ServingApp gateway, AppRequest request, CancellationToken ct)
    {
        var table = RoutingTable.Parse(gateway.UserConfigs.GetValueOrDefault(ServeAppKinds.GatewayDeployment));
        var stats = StatsOf(gateway);
        var statsPath = (gateway.RoutePrefix ?? "/").TrimEnd('/') + "/mlray-gateway/stats";
        if (request.Path == statsPath) // the gateway's own path, never routed to a model
        {
            return request.Method == "GET"
                ? AppAnswer.Json(200, stats.Render(table, Now()))
                : AppAnswer.Error(405, "BAD_REQUEST", $"{statsPath} answers GET only");
        }
        var route = table.Match(request.Path);
        if (route is null)
        {
            return AppAnswer.Error(404, "ENDPOINT_NOT_FOUND", $"No route of the gateway matches '{request.Path}'",
                new JsonObject { ["routes"] = new JsonArray(table.Routes.Select(r => (JsonNode?)r.Prefix).ToArray()) });
        }

        if (request.Pin is { } pin)
        {
            var pinnedApp = route.Versions.FirstOrDefault(v => v.Version == pin)?.App ?? route.Shadow.FirstOrDefault(s => s.Version == pin)?.App;
            if (pinnedApp is null)
            {
                return AppAnswer.Error(404, "RESOURCE_DOES_NOT_EXIST",
                    $"Version '{pin}' of model '{route.Model}' is not served on route '{route.Prefix}' (header {PinHeader})",
                    new JsonObject { ["versions"] = new JsonArray(route.PinnableVersions.Select(v => (JsonNode?)v).ToArray()) });
            }
            return await CallVersionAsync(gateway, stats, route, pin, pinnedApp, request, pinned: true, shadow: false, ct).ConfigureAwait(false);
        }

        var drawn = DrawByWeight(route.Versions);
        if (drawn is null)
        {
            return AppAnswer.Error(503, "TEMPORARILY_UNAVAILABLE",
                $"No version of model '{route.Model}' on route '{route.Prefix}' has a weight above 0; pin one with the {PinHeader} header");
        }
        // Drawn with the version, so one request's draws stay together in a seeded sequence.
        var shadows = route.Shadow.Where(s => Hits(s.Fraction)).ToList();
        var answer = await CallVersionAsync(gateway, stats, route, drawn.Version, drawn.App, request, pinned: false, shadow: false, ct).ConfigureAwait(false);
        foreach (var shadow in shadows) StartShadow(gateway, stats, route, shadow, request);
        return answer;
    }

    /// <summary>The stats of the gateway's current replicas: a restart (new replica version) starts from nothing.</summary>
    private GatewayStats StatsOf(ServingApp gateway)
    {
        lock (_gatewayStats)
        {
            if (_gatewayStats.TryGetValue(gateway.Name, out var kept) && kept.ReplicaVersion == gateway.ReplicaVersion) return kept.Stats;
            var stats = new GatewayStats();
            _gatewayStats[gateway.Name] = (gateway.ReplicaVersion, stats);
            return stats;
        }
    }

    private RouteVersion? DrawByWeight(IReadOnlyList<RouteVersion> versions)
    {
        var total = versions.Sum(v => Math.Max(0, v.Weight));
        if (total == 0) return null;
        var ticket = Draw(total);
        foreach (var version in versions.Where(v => v.Weight > 0))
        {
            if (ticket < version.Weight) return version;
            ticket -= version.Weight;
        }
        return null; // unreachable: the tickets add up to total
    }

    /// <summary>A shadow copy, sent after the client's answer (its own answer discarded; counted in the stats and <see cref="Calls"/>).
    /// It runs inline until it first waits, so an unfaulted copy is done before the client hears back.</summary>
    private void StartShadow(ServingApp gateway, GatewayStats stats, GatewayRoute route, ShadowVersion shadow, AppRequest request)
    {
        var call = CallVersionAsync(gateway, stats, route, shadow.Version, shadow.App, request, pinned: false, shadow: true, CancellationToken.None);
        _shadowCalls[call] = 0;
        call.ContinueWith(done => _shadowCalls.TryRemove(done, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>A handle call of a version app: its answer with header <c>mlray-version</c>, or 502 naming the version when the app
    /// does not serve or does not answer within <see cref="RayEmulatorOptions.GatewayCallTimeout"/>. Counted in the stats and recorded.</summary>
    private async Task<AppAnswer> CallVersionAsync(ServingApp gateway, GatewayStats stats, GatewayRoute route, string version, string appName,
        AppRequest request, bool pinned, bool shadow, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var target = store.ServingApp(appName);
        (string? model, string? modelVersion) = target is null ? (null, null) : ModelIdentity(target);
        AppAnswer answer;
        if (target is null)
        {
            answer = BadGateway(route, version, appName, "the application does not exist or has no running replica");
        }
        else
        {
            var timeout = Options.GatewayCallTimeout;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(timeout);
            try
            {
                answer = await InvokeAsync(target, request, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Record(new ServeAppCall(appName, model ?? route.Model, modelVersion ?? version, 0)
                    { Gateway = gateway.Name, Route = route.Prefix, Pinned = pinned, Shadow = shadow, At = Now(), Latency = Stopwatch.GetElapsedTime(started) });
                throw;
            }
            catch (OperationCanceledException)
            {
                answer = BadGateway(route, version, appName,
                    $"no answer within {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s (GetTimeoutError)");
            }
        }
        var latency = Stopwatch.GetElapsedTime(started);
        var at = Now();
        stats.Record(route, version, latency, answer.Status, at);
        Record(new ServeAppCall(appName, model ?? route.Model, modelVersion ?? version, answer.Status)
            { Gateway = gateway.Name, Route = route.Prefix, Pinned = pinned, Shadow = shadow, At = at, Latency = latency });
        return answer with { Version = version };
    }

    private static AppAnswer BadGateway(GatewayRoute route, string version, string app, string why) =>
        AppAnswer.Error(502, "BAD_GATEWAY", $"Version '{version}' of model '{route.Model}' (application '{app}') failed: {why}",
            new JsonObject { ["version"] = version });
}
