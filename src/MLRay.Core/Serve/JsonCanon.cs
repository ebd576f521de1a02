namespace MLRay.Serve;

/// <summary>
/// Semantic JSON equality for "does anything differ": object key order is ignored, arrays keep order,
/// numbers compare by value (Ray echoes what was sent, but 1 and 1.0 mean the same to it).
/// </summary>
public static class JsonCanon
{
    public static bool Equal(JsonNode? a, JsonNode? b) => (a, b) switch
    {
        (null, null) => true,
        (JsonObject x, JsonObject y) => x.Count == y.Count && x.All(p => y.TryGetPropertyValue(p.Key, out var other) && Equal(p.Value, other)),
        (JsonArray x, JsonArray y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
        (JsonValue x, JsonValue y) => ValuesEqual(x, y),
        _ => false,
    };

    private static bool ValuesEqual(JsonValue x, JsonValue y)
    {
        var kx = x.GetValueKind();
        var ky = y.GetValueKind();
        if (kx != ky) return false;
        return kx switch
        {
            JsonValueKind.Number => decimal.TryParse(x.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var dx)
                                    && decimal.TryParse(y.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var dy)
                                        ? dx == dy
                                        : x.ToJsonString() == y.ToJsonString(),
            JsonValueKind.String => x.GetValue<string>() == y.GetValue<string>(),
            _ => true, // true, false, null: equal kinds are equal values
        };
    }
}
