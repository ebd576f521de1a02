namespace MLRay.Serve;

/// <summary>One difference between two JSON documents, at a dotted path (<c>deployments[0].num_replicas</c>).</summary>
public sealed record JsonDifference(string Path, JsonNode? Before, JsonNode? After)
{
    public override string ToString() =>
        $"{Path}: {Before?.ToJsonString() ?? "(absent)"} → {After?.ToJsonString() ?? "(absent)"}";
}

public static class JsonDiff
{
    /// <summary>Leaf-level differences, using <see cref="JsonCanon"/> equality.</summary>
    public static IReadOnlyList<JsonDifference> Compare(JsonNode? before, JsonNode? after)
    {
        var result = new List<JsonDifference>();
        Walk("", before, after, result);
        return result;
    }

    private static void Walk(string path, JsonNode? a, JsonNode? b, List<JsonDifference> result)
    {
        if (JsonCanon.Equal(a, b)) return;
        switch (a, b)
        {
            case (JsonObject x, JsonObject y):
                foreach (var key in x.Select(p => p.Key).Union(y.Select(p => p.Key)).Order(StringComparer.Ordinal))
                    Walk(path.Length == 0 ? key : $"{path}.{key}", x[key], y[key], result);
                break;
            case (JsonArray x, JsonArray y) when x.Count == y.Count:
                for (var i = 0; i < x.Count; i++) Walk($"{path}[{i}]", x[i], y[i], result);
                break;
            default:
                result.Add(new JsonDifference(path, a?.DeepClone(), b?.DeepClone()));
                break;
        }
    }
}
