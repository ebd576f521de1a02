namespace MLRay.Emulators.Ray;

/// <summary>Longest-prefix matching on whole path segments, as Ray's proxy matches <c>route_prefix</c> and the gateway its routes.</summary>
internal static class RoutePrefixes
{
    /// <summary>Whether <paramref name="prefix"/> covers <paramref name="path"/>: <c>/fraud</c> covers <c>/fraud</c> and <c>/fraud/x</c>,
    /// not <c>/fraudulent</c>; <c>/</c> covers every path.</summary>
    public static bool Covers(string prefix, string path) =>
        path.StartsWith(prefix, StringComparison.Ordinal)
        && (prefix.EndsWith('/') || path.Length == prefix.Length || path[prefix.Length] == '/');

    /// <summary>The candidate whose prefix is the longest covering <paramref name="path"/>, or null.</summary>
    public static T? Longest<T>(string path, IEnumerable<T> candidates, Func<T, string> prefixOf) where T : class
    {
        T? best = null;
        var bestLength = -1;
        foreach (var candidate in candidates)
        {
            var prefix = prefixOf(candidate);
            if (prefix.Length > bestLength && Covers(prefix, path))
            {
                best = candidate;
                bestLength = prefix.Length;
            }
        }
        return best;
    }
}
