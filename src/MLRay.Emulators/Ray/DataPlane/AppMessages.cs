using System.Text;
using System.Text.Json.Nodes;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>A request as an app's ingress gets it (from the proxy, or from the gateway through a handle).</summary>
/// <param name="Path">The full path the client sent (the gateway routes on it).</param>
/// <param name="Pin">Header <c>mlray-version</c>, trimmed; null when absent or empty.</param>
internal sealed record AppRequest(string Method, string Path, string? ContentType, byte[] Body, string? Pin);

/// <summary>An app's answer.</summary>
/// <param name="Version">Header <c>mlray-version</c> the gateway adds (the version that answered); null for no header.</param>
internal sealed record AppAnswer(int Status, string ContentType, byte[] Body, string? Version = null)
{
    /// <summary>A JSON body as Python's <c>json.dumps</c> writes it (what the serve code sends).</summary>
    public static AppAnswer Json(int status, JsonNode body) =>
        new(status, "application/json", Encoding.UTF8.GetBytes(Py.JsonDumps(body)));

    public static AppAnswer Text(int status, string text, string contentType = "text/plain; charset=utf-8") =>
        new(status, contentType, Encoding.UTF8.GetBytes(text));

    /// <summary>MLflow's error body, as the serve code writes it.</summary>
    public static AppAnswer Error(int status, string errorCode, string message, JsonObject? extra = null)
    {
        var body = new JsonObject { ["error_code"] = errorCode, ["message"] = message };
        if (extra is not null)
            foreach (var kv in extra) body[kv.Key] = kv.Value?.DeepClone();
        return Json(status, body);
    }
}
