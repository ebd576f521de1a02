using MLRay.Deploy;

namespace MLRay.Pipeline.Rollouts;

/// <summary>The one JSON shape of rollouts: <c>mlray rollout … --output json</c> and the ops API's <c>/ops/rollouts</c>.</summary>
public static class RolloutJson
{
    /// <summary>
    /// <c>{"cluster", "registered_model", "traffic", "rollout": {…} | null, "versions": [{"version", "status", "weight",
    /// "smoke_test", "message", "stats"}], "gateway_stats": {"route", "window_s", "error"} | null}</c>.
    /// </summary>
    public static JsonObject Status(RolloutStatus status) => new()
    {
        ["cluster"] = status.Cluster.Name,
        ["registered_model"] = status.RegisteredModel,
        ["traffic"] = status.Cluster.Serving.Traffic.ToString().ToLowerInvariant(),
        ["rollout"] = status.InProgress is { } candidate ? Rollout(candidate) : null,
        ["versions"] = new JsonArray([.. status.Versions.Select(v => (JsonNode)Version(v))]),
        ["gateway_stats"] = status.Stats is { } s ? new JsonObject { ["route"] = s.Route, ["window_s"] = s.WindowSeconds, ["error"] = s.Problem } : null,
    };

    /// <summary><c>{"rollouts": [{"cluster", "registered_model", "version", "from", "weight", "step", "since", "paused", "status", "message"}]}</c>.</summary>
    public static JsonObject Listing(IReadOnlyList<RolloutStatus> rollouts) => new()
    {
        ["rollouts"] = new JsonArray([.. rollouts.Where(r => r.InProgress is not null).Select(r =>
        {
            var candidate = r.InProgress!;
            var node = new JsonObject { ["cluster"] = r.Cluster.Name, ["registered_model"] = r.RegisteredModel };
            foreach (var (key, value) in Rollout(candidate)) node[key] = value?.DeepClone();
            node["status"] = candidate.Status;
            node["message"] = candidate.Message;
            return (JsonNode)node;
        })]),
    };

    /// <summary><c>{"cluster", "registered_model", "version", "command", "queue"}</c>: what was asked, of whom.</summary>
    public static JsonObject Sent(RolloutSent sent) => new()
    {
        ["cluster"] = sent.Cluster,
        ["registered_model"] = sent.RegisteredModel,
        ["version"] = sent.Rollout.Version,
        ["command"] = sent.Command.Name(),
        ["queue"] = sent.Queue,
    };

    private static JsonObject Rollout(RolloutVersion candidate) => new()
    {
        ["version"] = candidate.Version,
        ["from"] = candidate.Rollout?.From,
        ["weight"] = candidate.Weight,
        ["step"] = candidate.Rollout?.Step,
        ["since"] = candidate.Rollout?.Since.ToString("O"),
        ["paused"] = candidate.Rollout?.Paused ?? false,
    };

    private static JsonObject Version(RolloutVersion version) => new()
    {
        ["version"] = version.Version,
        ["status"] = version.Status,
        ["weight"] = version.Weight,
        ["smoke_test"] = version.SmokeTest,
        ["message"] = version.Message,
        ["stats"] = version.Stats is { } s
            ? new JsonObject { ["requests"] = s.Requests, ["errors"] = s.Errors, ["p50_ms"] = s.P50Ms, ["p99_ms"] = s.P99Ms }
            : null,
    };
}
