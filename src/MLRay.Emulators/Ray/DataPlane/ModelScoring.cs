using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// What MLRay's model app (<c>serve/mlray_serve/protocol.py</c> and <c>server.py</c>) answers, without a model: MLflow's pyfunc
/// scoring protocol (JSON with exactly one of <c>dataframe_split</c>, <c>dataframe_records</c>, <c>instances</c>, <c>inputs</c>,
/// plus an optional <c>params</c> object; or CSV with a header row), and the seed's <c>{"data": [records]}</c> answered with a bare
/// list. 415 text for another media type or a content-type parameter other than <c>charset=utf-8</c>; 400
/// <c>{"error_code": "BAD_REQUEST", "message": …}</c> in the serve code's words for a body it cannot read.
/// <para>
/// Predictions are one per row, each <c>[class]</c> with a class 0–2 derived from the row's content (the same row always gets
/// the same class), as the seed's CatBoost iris classifiers answer (an (n, 1) array): <c>{"predictions": [[2], [0]]}</c>.
/// </para>
/// </summary>
internal static class ModelScoring
{
    private const string SeedKey = "data";
    private static readonly string[] InputKeys = [SeedKey, "dataframe_split", "dataframe_records", "instances", "inputs"];
    private static readonly string Expected = "one of " + string.Join(", ", InputKeys) + " (plus an optional params object)";

    public static AppAnswer Answer(string? contentType, byte[] body)
    {
        try
        {
            var mediaType = MediaType(contentType);
            if (mediaType == "text/csv") return Predictions(CsvRows(body), bareList: false);
            if (mediaType != "application/json")
                throw new UnsupportedMediaType($"Unsupported content type '{mediaType}'; use application/json or text/csv");
            return ParseJson(body);
        }
        catch (UnsupportedMediaType e)
        {
            return AppAnswer.Text(415, e.Message);
        }
        catch (BadRequest e)
        {
            return AppAnswer.Error(400, "BAD_REQUEST", e.Message);
        }
    }

    private sealed class BadRequest(string message) : Exception(message);

    private sealed class UnsupportedMediaType(string message) : Exception(message);

    /// <summary>The media type, refusing parameters other than <c>charset=utf-8</c> (as MLflow's scoring server does).</summary>
    private static string MediaType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType)) return "application/json"; // the seed's clients did not always send one
        var parts = contentType.Split(';').Select(p => p.Trim()).ToList();
        foreach (var param in parts.Skip(1))
            if (!param.Replace(" ", "", StringComparison.Ordinal).Equals("charset=utf-8", StringComparison.OrdinalIgnoreCase))
                throw new UnsupportedMediaType($"Unsupported content type parameter '{param}'; only charset=utf-8 is allowed");
        return parts[0].ToLowerInvariant();
    }

    /// <summary>pandas' <c>read_csv</c> as far as rows go: the first non-blank line is the header, every other non-blank line a row.</summary>
    private static List<JsonNode?> CsvRows(byte[] body)
    {
        var lines = Encoding.UTF8.GetString(body).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new BadRequest("Failed to parse the CSV body: No columns to parse from file");
        return lines.Skip(1).Select(l => (JsonNode?)JsonValue.Create(l)).ToList();
    }

    private static AppAnswer ParseJson(byte[] raw)
    {
        JsonNode? body;
        try
        {
            body = JsonNode.Parse(raw);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            var (line, column) = e is JsonException j ? ((j.LineNumber ?? 0) + 1, (j.BytePositionInLine ?? 0) + 1) : (1, 1);
            throw new BadRequest($"The body is not valid JSON: Expecting value: line {line} column {column} (char {Math.Max(0, column - 1)})");
        }
        if (body is not JsonObject obj)
            throw new BadRequest($"The body must be a JSON object with {Expected}; got a JSON {Py.TypeName(body)}");
        var keys = InputKeys.Where(obj.ContainsKey).ToList();
        var unknown = obj.Select(kv => kv.Key).Where(k => !InputKeys.Contains(k) && k != "params").ToList();
        if (keys.Count != 1 || unknown.Count > 0)
        {
            var all = obj.Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal).Select(Py.Repr);
            throw new BadRequest($"The body must have exactly {Expected}; got keys [{string.Join(", ", all)}]");
        }
        if (obj["params"] is { } parameters && parameters is not JsonObject)
            throw new BadRequest($"params must be a JSON object; got a JSON {Py.TypeName(parameters)}");
        var key = keys[0];
        return Predictions(Rows(key, obj[key]), bareList: key == SeedKey);
    }

    /// <summary>The rows of an input as pandas would make them (one JSON value per row), or the serve code's 400.</summary>
    private static List<JsonNode?> Rows(string key, JsonNode? value)
    {
        switch (key)
        {
            case SeedKey or "dataframe_records":
                if (value is not JsonArray records || records.Any(r => r is not JsonObject))
                    throw new BadRequest($"{key} must be a list of records (JSON objects of column: value)");
                return records.ToList();
            case "dataframe_split":
                if (value is not JsonObject split || split["data"] is not JsonArray data)
                    throw new BadRequest("dataframe_split must be an object {\"columns\": [...], \"data\": [[...], ...]}");
                if (split["columns"] is JsonArray columns && data.FirstOrDefault(r => r is JsonArray a && a.Count != columns.Count) is JsonArray bad)
                    throw new BadRequest($"dataframe_split could not be read as model input: {columns.Count} columns passed, passed data had {bad.Count} columns");
                return data.ToList();
            case "instances":
                if (value is not JsonArray instances) throw new BadRequest("instances must be a list");
                return instances.ToList();
            default: // inputs: a columnar object is a DataFrame; a list, one row per element; anything else, one row
                if (value is JsonObject columnar) return ColumnarRows(columnar);
                if (value is JsonArray list) return list.ToList();
                return [value];
        }
    }

    /// <summary><c>pd.DataFrame(dict)</c>: columns of equal length (a scalar column repeats), not all scalars.</summary>
    private static List<JsonNode?> ColumnarRows(JsonObject columns)
    {
        var lengths = columns.Where(kv => kv.Value is JsonArray).Select(kv => ((JsonArray)kv.Value!).Count).Distinct().ToList();
        if (columns.Count > 0 && lengths.Count == 0)
            throw new BadRequest("inputs could not be read as model input: If using all scalar values, you must pass an index");
        if (lengths.Count > 1) throw new BadRequest("inputs could not be read as model input: All arrays must be of the same length");
        var rows = new List<JsonNode?>();
        for (var i = 0; i < (lengths.Count == 0 ? 0 : lengths[0]); i++)
        {
            var row = new JsonObject();
            foreach (var (name, column) in columns)
                row[name] = (column is JsonArray values ? values[i] : column)?.DeepClone();
            rows.Add(row);
        }
        return rows;
    }

    private static AppAnswer Predictions(List<JsonNode?> rows, bool bareList)
    {
        var predictions = new JsonArray();
        foreach (var row in rows) predictions.Add(new JsonArray(ClassOf(row)));
        return AppAnswer.Json(200, bareList ? predictions : new JsonObject { ["predictions"] = predictions });
    }

    /// <summary>A stable class 0–2 from the row's content (FNV-1a of its canonical JSON).</summary>
    private static int ClassOf(JsonNode? row)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(Json.Canonical(row)))
            hash = unchecked((hash ^ b) * 16777619u);
        return (int)(hash % 3);
    }
}
