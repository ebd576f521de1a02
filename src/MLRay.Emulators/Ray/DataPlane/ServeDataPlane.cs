using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// What the cluster's replicas answer, in process: MLRay's model app (<see cref="ModelScoring"/> plus the injected
/// <see cref="PredictFault"/>s), MLRay's gateway (<c>ServeDataPlane.Gateway.cs</c>), and an echo for code it does not know.
/// Keeps the state replicas and observers keep: every call of an app (<see cref="Calls"/>) and each gateway's stats. Apps are
/// found through <see cref="RayClusterStore"/> (what their running replicas serve); the HTTP side is <see cref="ServeProxy"/>.
/// </summary>
internal sealed partial class ServeDataPlane(RayClusterStore store)
{
    private readonly object _callsGate = new();
    private readonly List<ServeAppCall> _calls = new();
    private readonly object _randomGate = new();
    private readonly ConcurrentDictionary<Task, byte> _shadowCalls = new();

    private RayEmulatorOptions Options => store.Options;

    public IReadOnlyList<ServeAppCall> Calls
    {
        get { lock (_callsGate) return _calls.ToArray(); }
    }

    /// <summary>Completes when every shadow call started so far has been answered (shadows run after the client's answer).</summary>
    public Task ShadowCallsDoneAsync() => Task.WhenAll(_shadowCalls.Keys.ToArray());

    /// <summary>A client's request that the proxy routed to <paramref name="app"/>.</summary>
    public async Task<AppAnswer> CallFromProxyAsync(ServingApp app, AppRequest request, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var (model, version) = ModelIdentity(app);
        var status = 0; // a client that gives up is recorded with 0, as the hosts record a dropped request
        try
        {
            var answer = await InvokeAsync(app, request, ct).ConfigureAwait(false);
            status = answer.Status;
            return answer;
        }
        finally
        {
            Record(new ServeAppCall(app.Name, model, version, status) { At = Now(), Latency = Stopwatch.GetElapsedTime(started) });
        }
    }

    /// <summary>What <paramref name="app"/>'s ingress answers.</summary>
    private Task<AppAnswer> InvokeAsync(ServingApp app, AppRequest request, CancellationToken ct) => ServeAppKinds.Of(app) switch
    {
        ServeAppKind.Model => ModelAppAsync(app, request, ct),
        ServeAppKind.Gateway => GatewayAsync(app, request, ct),
        // Code the emulator does not know (another team's app, one made with serve.run): an echo that names the app.
        _ => Task.FromResult(AppAnswer.Json(200, new JsonObject { ["application"] = app.Name, ["path"] = request.Path })),
    };

    private async Task<AppAnswer> ModelAppAsync(ServingApp app, AppRequest request, CancellationToken ct)
    {
        var (model, version) = ModelIdentity(app);
        if (Options.PredictFaultOf(model, version) is { } fault && Hits(fault.Probability))
        {
            if (fault.Delay > TimeSpan.Zero) await Task.Delay(fault.Delay, ct).ConfigureAwait(false);
            if (fault.Status is { } status)
                return AppAnswer.Text(status, fault.Body ?? (status >= 500 ? RayMessages.PredictFailed(Options.PythonVersion, app.Name, model, version) : ""),
                    fault.ContentType);
            if (fault.MalformedJson) return AppAnswer.Text(200, fault.Body ?? "{\"predictions\": [[0], [1", "application/json");
        }
        return ModelScoring.Answer(request.ContentType, request.Body);
    }

    /// <summary>The model version a model app serves: <c>args.mlray_model</c> / <c>mlray_version</c>, else its
    /// <c>models:/name/version</c> URI; nulls for an app that is not a model app.</summary>
    internal static (string? Model, string? Version) ModelIdentity(ServingApp app)
    {
        if (ServeAppKinds.Of(app) != ServeAppKind.Model) return (null, null);
        var model = Json.AsString(app.Args["mlray_model"]);
        var version = app.Args["mlray_version"] is JsonValue v ? (Json.AsString(v) ?? v.ToJsonString()) : null;
        if ((model is null || version is null) && Json.AsString(app.Args["model_uri"]) is { } uri && uri.StartsWith("models:/", StringComparison.Ordinal))
        {
            var parts = uri["models:/".Length..].Split('/');
            if (parts.Length == 2)
            {
                model ??= parts[0];
                version ??= parts[1];
            }
        }
        return (model, version);
    }

    /// <summary>Whether an event of probability <paramref name="p"/> happens; draws only for 0 &lt; p &lt; 1, so certain and
    /// impossible ones leave a seeded <see cref="RayEmulatorOptions.ServeRandom"/>'s sequence alone.</summary>
    private bool Hits(double p)
    {
        if (p >= 1) return true;
        if (p <= 0) return false;
        lock (_randomGate) return Options.ServeRandom.NextDouble() < p;
    }

    /// <summary>A whole number in [0, <paramref name="maxExclusive"/>).</summary>
    private int Draw(int maxExclusive)
    {
        lock (_randomGate) return Options.ServeRandom.Next(maxExclusive);
    }

    private void Record(ServeAppCall call)
    {
        lock (_callsGate) _calls.Add(call);
    }

    private DateTimeOffset Now() => (Options.TimeProvider ?? TimeProvider.System).GetUtcNow();
}
