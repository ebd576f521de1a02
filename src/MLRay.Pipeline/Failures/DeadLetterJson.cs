using MLRay.Deploy;
using MLRay.Pipeline.Messages;

namespace MLRay.Pipeline.Failures;

/// <summary>The one JSON shape of dead letters, unroutable models and replay/purge outcomes: <c>mlray dlq … --output json</c> and the ops API.</summary>
public static class DeadLetterJson
{
    public static JsonObject Letter(DeadLetterEntry entry)
    {
        var node = new JsonObject { ["id"] = entry.Id, ["dead_lettered_at"] = entry.DeadLetteredAt?.ToString("O") };
        if (entry.Letter is not { } l)
        {
            node["unreadable"] = entry.Problem;
            return node;
        }
        node["cluster"] = l.Cluster;
        node["registered_model"] = l.RegisteredModel;
        node["version"] = l.Version;
        node["app"] = l.App;
        node["failure_class"] = l.FailureClass;
        node["attempts"] = l.Attempts;
        node["first_failure"] = l.FirstFailure.ToString("O");
        node["last_failure"] = l.LastFailure.ToString("O");
        node["delivery_ids"] = new JsonArray([.. l.DeliveryIds.Select(d => (JsonNode)d)]);
        node["message"] = l.Message;
        return node;
    }

    /// <summary>
    /// <c>{"clusters": [{"cluster", "dead_letters": […]}], "unroutable": […]}</c> (<c>unroutable</c> only when every cluster
    /// was listed), queue order: the one shape of <c>mlray dlq list --output json</c> and <c>GET /ops/dead-letters</c>.
    /// </summary>
    public static JsonObject Listing(DeadLetterListing listing)
    {
        var node = new JsonObject { ["clusters"] = new JsonArray([.. listing.Clusters.Select(c => (JsonNode)Cluster(c))]) };
        if (listing.Unroutable is { } unroutable) node["unroutable"] = new JsonArray([.. unroutable.Select(e => (JsonNode)Unroutable(e))]);
        return node;
    }

    private static JsonObject Cluster(ClusterDeadLetters cluster) => new()
    {
        ["cluster"] = cluster.Cluster,
        ["dead_letters"] = new JsonArray([.. cluster.Letters.Select(l => (JsonNode)Letter(l))]),
    };

    private static JsonObject Unroutable(UnroutableEntry entry) => new()
    {
        ["id"] = entry.Id,
        ["registered_model"] = entry.Model?.RegisteredModel,
        ["version"] = entry.Model?.Version,
        ["python"] = entry.Model?.Python,
        ["failure_class"] = FailureClass.Unroutable,
        ["reason"] = entry.Reason,
        ["parked_at"] = entry.ParkedAt?.ToString("O"),
        ["unreadable"] = entry.Problem,
    };

    /// <summary><c>{"cluster", "&lt;verb&gt;": [ids], "problems": […]}</c>, e.g. verb <c>replayed</c> or <c>purged</c>.</summary>
    public static JsonObject Outcome(string cluster, string verb, DeadLetterOutcome outcome) => new()
    {
        ["cluster"] = cluster,
        [verb] = new JsonArray([.. outcome.Removed.Select(e => (JsonNode)e.Id)]),
        ["problems"] = new JsonArray([.. outcome.Problems.Select(p => (JsonNode)p)]),
    };
}
