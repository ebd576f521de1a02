namespace MLRay.Serve;

/// <summary>Ray's failure messages are whole tracebacks; people need the line that says why.</summary>
public static class RayMessage
{
    /// <summary>
    /// pip's <c>ERROR:</c> lines when there are any (the "No matching distribution found for catboost==1.1" case),
    /// else the first line and the last exception line, bounded to <paramref name="maxLength"/> characters.
    /// </summary>
    public static string Summarize(string message, int maxLength = 1000)
    {
        var lines = message.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) return "";
        var errors = lines.Where(l => l.StartsWith("ERROR:", StringComparison.Ordinal)).Distinct().ToList();
        var summary = errors.Count > 0
            ? string.Join("\n", new[] { lines[0] }.Concat(errors))
            : lines.Count == 1 ? lines[0]
            : $"{lines[0]}\n{lines.LastOrDefault(IsExceptionLine) ?? lines[^1]}";
        return summary.Length <= maxLength ? summary : summary[..(maxLength - 1)] + "…";
    }

    private static bool IsExceptionLine(string line) =>
        System.Text.RegularExpressions.Regex.IsMatch(line, @"^[A-Za-z_][\w.]*(Error|Exception)\b.*:");
}
