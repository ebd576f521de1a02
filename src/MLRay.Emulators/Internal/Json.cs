using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace MLRay.Emulators.Internal;

internal static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };

    public static Task WriteAsync(HttpContext ctx, int status, JsonNode node, string contentType = "application/json") =>
        WriteUtf8Async(ctx, status, JsonSerializer.SerializeToUtf8Bytes(node, Options), contentType);

    /// <summary>JSON already written as UTF-8.</summary>
    public static async Task WriteUtf8Async(HttpContext ctx, int status, byte[] bytes, string contentType = "application/json")
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = bytes.Length;
        await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted).ConfigureAwait(false);
    }

    public static async Task WriteTextAsync(HttpContext ctx, int status, string text, string contentType = "text/plain; charset=utf-8")
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = bytes.Length;
        if (bytes.Length > 0) await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted).ConfigureAwait(false);
    }

    public static string Body(HttpContext ctx) => ctx.Items[EmulatorHost.BodyKey] as string ?? "";

    /// <summary>Canonical text of a JSON value: object keys sorted (ordinal), numbers normalised.</summary>
    public static string Canonical(JsonNode? node)
    {
        var sb = new StringBuilder();
        WriteCanonical(node, sb);
        return sb.ToString();
    }

    private static void WriteCanonical(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
                sb.Append('{');
                var first = true;
                foreach (var kv in o.OrderBy(k => k.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonSerializer.Serialize(kv.Key)).Append(':');
                    WriteCanonical(kv.Value, sb);
                }
                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    WriteCanonical(a[i], sb);
                }
                sb.Append(']');
                break;
            case JsonValue v:
                var kind = v.GetValueKind();
                if (kind == JsonValueKind.Number)
                    sb.Append(NumberOf(v).ToString("R", CultureInfo.InvariantCulture));
                else if (kind == JsonValueKind.String)
                    sb.Append(JsonSerializer.Serialize(v.GetValue<string>()));
                else
                    sb.Append(v.ToJsonString());
                break;
        }
    }

    public static double NumberOf(JsonValue v) =>
        double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>Node kind helpers that work for both parsed and constructed nodes.</summary>
    public static JsonValueKind Kind(JsonNode? node) => node switch
    {
        null => JsonValueKind.Null,
        JsonObject => JsonValueKind.Object,
        JsonArray => JsonValueKind.Array,
        JsonValue v => v.GetValueKind(),
        _ => JsonValueKind.Undefined,
    };

    public static string? AsString(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public static bool TryDouble(JsonNode? node, out double value)
    {
        value = 0;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            value = NumberOf(v);
            return true;
        }
        return false;
    }

    public static bool IsInteger(JsonNode? node, out long value)
    {
        value = 0;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            var d = NumberOf(v);
            if (Math.Abs(d % 1) < double.Epsilon && d >= long.MinValue && d <= long.MaxValue)
            {
                value = (long)d;
                return true;
            }
        }
        return false;
    }
}

/// <summary>Python-compatible text: <c>json.dumps</c> with default separators and <c>repr()</c>.</summary>
internal static class Py
{
    /// <summary>Exactly what Python's <c>json.dumps(obj)</c> produces (ensure_ascii=True, ", " and ": ").</summary>
    public static string JsonDumps(JsonNode? node)
    {
        var sb = new StringBuilder();
        Dump(node, sb);
        return sb.ToString();
    }

    private static void Dump(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
                sb.Append('{');
                var first = true;
                foreach (var kv in o)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    JsonString(kv.Key, sb);
                    sb.Append(": ");
                    Dump(kv.Value, sb);
                }
                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Dump(a[i], sb);
                }
                sb.Append(']');
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String: JsonString(v.GetValue<string>(), sb); break;
                    case JsonValueKind.True: sb.Append("true"); break;
                    case JsonValueKind.False: sb.Append("false"); break;
                    case JsonValueKind.Null: sb.Append("null"); break;
                    default: sb.Append(v.ToJsonString()); break;
                }
                break;
        }
    }

    private static void JsonString(string s, StringBuilder sb)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Python <c>repr(str)</c>.</summary>
    public static string Repr(string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder();
        sb.Append(quote);
        foreach (var c in s)
        {
            if (c == quote || c == '\\') sb.Append('\\').Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        sb.Append(quote);
        return sb.ToString();
    }

    /// <summary>Python repr of a JSON value as the json module would load it (dict/list/str/int/float/bool/None).</summary>
    public static string Repr(JsonNode? node)
    {
        switch (node)
        {
            case null: return "None";
            case JsonObject o: return "{" + string.Join(", ", o.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case JsonArray a: return "[" + string.Join(", ", a.Select(Repr)) + "]";
            case JsonValue v:
                return v.GetValueKind() switch
                {
                    JsonValueKind.String => Repr(v.GetValue<string>()),
                    JsonValueKind.True => "True",
                    JsonValueKind.False => "False",
                    JsonValueKind.Null => "None",
                    _ => v.ToJsonString(),
                };
            default: return "None";
        }
    }

    public static string TypeName(JsonNode? node) => node switch
    {
        null => "NoneType",
        JsonObject => "dict",
        JsonArray => "list",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "str",
            JsonValueKind.True or JsonValueKind.False => "bool",
            JsonValueKind.Number => Json.IsInteger(v, out _) && !v.ToJsonString().Contains('.') ? "int" : "float",
            _ => "NoneType",
        },
        _ => "NoneType",
    };
}
