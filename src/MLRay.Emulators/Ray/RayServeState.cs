using System.Globalization;
using System.Text.Json.Nodes;

namespace MLRay.Emulators.Ray;

// The Serve state that RayClusterStore's state machine changes and ServeStatusRenderer renders. Mutable, so both use it
// under the store's lock only.

internal enum AppPhase { Building, Updating, Running, BuildFailed, DeployFailed, Pending, Deleting }

/// <summary>Serve on the cluster: whether it runs, its instance-wide options, and its apps in deploy order.</summary>
internal sealed class ServeInstance
{
    public bool Started { get; set; }
    public string ProxyLocation { get; set; } = "EveryNode";
    public JsonObject HttpOptions { get; set; } = new();
    public JsonObject GrpcOptions { get; set; } = new();
    public JsonNode? TargetCapacity { get; set; }
    public List<ServeApp> Apps { get; } = new();
    /// <summary>Whether the proxy has had a non-empty route table since Serve started (until then its health checks answer 503).</summary>
    public bool RouteTablePopulated { get; set; }
}

internal sealed class ServeApp
{
    public required string Name { get; init; }
    public string Source { get; set; } = "declarative";
    public JsonObject? Config { get; set; }
    public string Canonical { get; set; } = "";
    public string CodeVersion { get; set; } = "";
    public double LastDeployed { get; set; }
    public AppPhase Phase { get; set; }
    public DateTime PhaseEnds { get; set; }
    public string Message { get; set; } = "";
    public bool HasBuilt { get; set; }
    public string? RoutePrefix { get; set; }
    public List<ServeDeployment> Deployments { get; set; } = new();
    /// <summary>What the app's running replicas serve; null while none runs. Kept through an update (old replicas serve until
    /// the new ones run) and a failed rebuild; replaced when the update completes.</summary>
    public ServingApp? Serving { get; set; }
}

/// <summary>
/// The config an app's running replicas were started (or last reconfigured) with: the data plane answers from this, never
/// from the desired config, so a request during an update reaches the old replicas as in Ray. Immutable once made.
/// </summary>
internal sealed class ServingApp
{
    public required string Name { get; init; }
    public string? RoutePrefix { get; init; }
    /// <summary>Null for an app created with <c>serve.run</c> (its code is not known here).</summary>
    public string? ImportPath { get; init; }
    public JsonObject Args { get; init; } = new();
    /// <summary>Each deployment's <c>user_config</c> (what <c>reconfigure</c> got).</summary>
    public IReadOnlyDictionary<string, JsonNode?> UserConfigs { get; init; } = new Dictionary<string, JsonNode?>();
    /// <summary>Changes only when the replicas are replaced (code or actor options), not on a lightweight update: state the
    /// replicas keep in memory (the gateway's stats) lives as long as this.</summary>
    public string ReplicaVersion { get; init; } = "";
}

/// <summary>One entry of the proxy's route table: the app behind a route, and what its replicas serve (null: the endpoint
/// exists but no replica runs yet, so Ray's handle queues the request).</summary>
internal sealed record ServeEndpoint(string Route, string App, ServingApp? Serving);

/// <summary>What the Serve HTTP proxy sees of the cluster at one moment.</summary>
internal sealed record ProxyView(bool ServeRunning, bool RouteTablePopulated, IReadOnlyList<ServeEndpoint> Endpoints);

internal sealed class ServeDeployment
{
    public required string Name { get; init; }
    public required JsonObject Config { get; init; }
    public required string ReplicaVersion { get; init; }
    public int Target { get; init; }
    public double Cpus { get; init; }
    public double Gpus { get; init; }
    public required JsonObject Resources { get; init; }
    public JsonNode? MergedRuntimeEnv { get; init; }
    public string Status { get; set; } = "UPDATING";
    public string Trigger { get; set; } = "CONFIG_UPDATE_STARTED";
    public string Message { get; set; } = "";
    public List<ServeReplica> Replicas { get; } = new();
}

internal sealed class ServeReplica
{
    public required string Id { get; init; }
    public string State { get; set; } = "STARTING";
    public int? Pid { get; set; }
    public double StartTime { get; set; }
    public required string ActorId { get; init; }
    public required string WorkerId { get; init; }
}

/// <summary>The head node's and the Serve system actors' ids, fixed for the emulator's life.</summary>
internal sealed record RayClusterIdentity(
    string NodeId,
    string ControllerActorId,
    string ControllerWorkerId,
    int ControllerPid,
    string ProxyActorId,
    string ProxyWorkerId,
    int ProxyPid,
    string RayCommit,
    string SessionName)
{
    public static RayClusterIdentity CreateRandom() => new(
        NodeId: RandomIds.Hex(56),
        ControllerActorId: RandomIds.Hex(32),
        ControllerWorkerId: RandomIds.Hex(56),
        ControllerPid: Random.Shared.Next(1000, 60000),
        ProxyActorId: RandomIds.Hex(32),
        ProxyWorkerId: RandomIds.Hex(56),
        ProxyPid: Random.Shared.Next(1000, 60000),
        RayCommit: RandomIds.Hex(40),
        SessionName: "session_" + DateTime.UtcNow.ToString("yyyy-MM-dd_HH-mm-ss_ffffff", CultureInfo.InvariantCulture) + "_"
            + Random.Shared.Next(1, 9999).ToString(CultureInfo.InvariantCulture));
}

/// <summary>Ids in Ray's formats.</summary>
internal static class RandomIds
{
    /// <summary>Lower-case hex, as Ray's node, actor and worker ids.</summary>
    public static string Hex(int length)
    {
        var bytes = new byte[(length + 1) / 2];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexString(bytes).ToLowerInvariant()[..length];
    }

    /// <summary>Serve's 8-character replica suffix.</summary>
    public static string ReplicaId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(8, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[Random.Shared.Next(alphabet.Length)];
        });
    }
}
