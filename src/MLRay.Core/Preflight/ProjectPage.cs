using System.Net;
using System.Text.RegularExpressions;

namespace MLRay.Preflight;

/// <summary>One file on a project page (PEP 691 JSON or PEP 503 HTML): what the verdict needs of it.</summary>
public sealed record IndexFile(string Filename, Uri Url, string? RequiresPython = null, bool Yanked = false, string? YankedReason = null);

/// <summary>A page the index served that MLRay cannot use (unknown API major version, not JSON or HTML).</summary>
public sealed class IndexFormatException(string message) : Exception(message);

/// <summary>
/// A project's page from the Simple API. <see cref="Found"/> false is the index's 404 (unknown project: pip then sees no
/// versions). Warnings are what the page's metadata asks a client to report (a newer minor API version).
/// </summary>
public sealed partial record ProjectPage(string Project, bool Found, IReadOnlyList<IndexFile> Files, IReadOnlyList<string> Warnings)
{
    public const string JsonMediaType = "application/vnd.pypi.simple.v1+json";
    public const string HtmlMediaType = "application/vnd.pypi.simple.v1+html";
    /// <summary>PEP 691's own suggestion, as pip sends it: JSON first, HTML as the fallback.</summary>
    public const string AcceptHeader = JsonMediaType + ", " + HtmlMediaType + ";q=0.2, text/html;q=0.01";
    /// <summary>The newest minor API version of major 1 this client knows (PyPI emits 1.3; 1.4 adds project status).</summary>
    public const int KnownMinor = 4;

    public static ProjectPage NotFound(string project) => new(project, false, [], []);

    /// <summary>Parses a body by its <c>Content-Type</c>; relative URLs resolve against <paramref name="pageUrl"/>.</summary>
    public static ProjectPage Parse(string project, string? contentType, string body, Uri pageUrl)
    {
        var type = (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        return type switch
        {
            JsonMediaType or "application/json" => ParseJson(project, body, pageUrl),
            HtmlMediaType or "text/html" => ParseHtml(project, body, pageUrl),
            _ => throw new IndexFormatException($"the index answered {pageUrl} with Content-Type '{contentType}', neither the Simple API's JSON nor HTML"),
        };
    }

    public static ProjectPage ParseJson(string project, string body, Uri pageUrl)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(body); }
        catch (JsonException e) { throw new IndexFormatException($"{pageUrl} is not valid JSON: {e.Message}"); }
        if (root is not JsonObject page) throw new IndexFormatException($"{pageUrl} is not a JSON object");
        var warnings = ApiVersionWarnings(page["meta"]?["api-version"]?.GetValue<string>(), pageUrl);
        var files = new List<IndexFile>();
        foreach (var f in page["files"] as JsonArray ?? [])
        {
            if (f is not JsonObject file || file["filename"] is not JsonValue name || file["url"] is not JsonValue url) continue;
            var (yanked, reason) = file["yanked"] switch
            {
                JsonValue v when v.TryGetValue<bool>(out var b) => (b, (string?)null),
                JsonValue v when v.TryGetValue<string>(out var s) => (true, s),
                _ => (false, null),
            };
            var requiresPython = file["requires-python"] is JsonValue rp && rp.TryGetValue<string>(out var text) ? text : null;
            if (!Uri.TryCreate(pageUrl, url.GetValue<string>(), out var absolute)) continue;
            files.Add(new IndexFile(name.GetValue<string>(), absolute, requiresPython, yanked, reason));
        }
        return new ProjectPage(project, true, files, warnings);
    }

    [GeneratedRegex(@"<a\s+(?<attrs>[^>]*)>(?<text>[^<]*)</a\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex Anchor();

    [GeneratedRegex(@"(?<name>[A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:""(?<v>[^""]*)""|'(?<v>[^']*)'|(?<v>[^\s""'=<>`]+)))?")]
    private static partial Regex Attribute();

    [GeneratedRegex(@"<meta\s+name=""pypi:repository-version""\s+content=""(?<v>[^""]*)""", RegexOptions.IgnoreCase)]
    private static partial Regex RepositoryVersion();

    public static ProjectPage ParseHtml(string project, string body, Uri pageUrl)
    {
        var version = RepositoryVersion().Match(body);
        var warnings = ApiVersionWarnings(version.Success ? version.Groups["v"].Value : null, pageUrl);
        var files = new List<IndexFile>();
        foreach (Match a in Anchor().Matches(body))
        {
            var attrs = Attribute().Matches(a.Groups["attrs"].Value)
                .GroupBy(m => m.Groups["name"].Value.ToLowerInvariant())
                .ToDictionary(g => g.Key, g => g.First().Groups["v"].Success ? WebUtility.HtmlDecode(g.First().Groups["v"].Value) : "");
            if (!attrs.TryGetValue("href", out var href) || !Uri.TryCreate(pageUrl, href, out var url)) continue;
            // The fragment carries the hash (#sha256=…); the file is the URL without it.
            url = new UriBuilder(url) { Fragment = "" }.Uri;
            var requiresPython = attrs.TryGetValue("data-requires-python", out var rp) && rp.Length > 0 ? rp : null;
            var yanked = attrs.TryGetValue("data-yanked", out var reason);
            files.Add(new IndexFile(WebUtility.HtmlDecode(a.Groups["text"].Value).Trim(), url, requiresPython, yanked, yanked && reason!.Length > 0 ? reason : null));
        }
        return new ProjectPage(project, true, files, warnings);
    }

    /// <summary>PEP 629: an unknown major version is an error, a newer minor one a warning.</summary>
    private static IReadOnlyList<string> ApiVersionWarnings(string? apiVersion, Uri pageUrl)
    {
        if (apiVersion is null) return [];
        var parts = apiVersion.Split('.');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var major) || !int.TryParse(parts[1], out var minor))
            throw new IndexFormatException($"{pageUrl} says api-version '{apiVersion}', which is not Major.Minor");
        if (major != 1)
            throw new IndexFormatException($"{pageUrl} speaks Simple API {apiVersion}; MLRay understands major version 1 only");
        return minor > KnownMinor ? [$"{pageUrl} speaks Simple API {apiVersion}, newer than the 1.{KnownMinor} MLRay knows; read as 1.{KnownMinor}"] : [];
    }
}
