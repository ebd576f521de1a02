using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.PackageIndex;

/// <summary>
/// A Python package index on 127.0.0.1 speaking the Simple API as PyPI does (contracts/pypi.md §1): <c>/simple/&lt;project&gt;/</c>
/// as PEP 691 JSON (api-version 1.3) or PEP 503 HTML by <c>Accept</c> (HTML when nothing acceptable is offered, never 406),
/// 301 from a non-normalised name, 404 for an unknown project, requires-python and yanked metadata, zero-byte files under
/// <c>/files/</c>. Faults: <see cref="Down"/> drops every connection, <see cref="FailWithStatus"/> answers every request so.
/// </summary>
public sealed partial class PackageIndexEmulator : IAsyncDisposable
{
    private EmulatorHost? _host;
    private readonly Dictionary<string, List<PackageFile>> _projects;
    private readonly object _lock = new();

    private PackageIndexEmulator(IReadOnlyDictionary<string, IReadOnlyList<PackageFile>> projects) =>
        _projects = projects.ToDictionary(p => p.Key, p => p.Value.ToList());

    /// <summary>Starts an index holding <paramref name="projects"/> (default: <see cref="SeedPackages.All"/>).</summary>
    public static async Task<PackageIndexEmulator> StartAsync(IReadOnlyDictionary<string, IReadOnlyList<PackageFile>>? projects = null, CancellationToken ct = default, int port = 0)
    {
        var emulator = new PackageIndexEmulator(projects ?? SeedPackages.All);
        emulator._host = await EmulatorHost.StartAsync("package index", emulator.HandleAsync, ct, port).ConfigureAwait(false);
        return emulator;
    }

    public Uri BaseUri => _host!.BaseUri;
    /// <summary>The Simple API root, e.g. <c>http://127.0.0.1:41234/simple/</c>: what <c>package_index.url</c> names.</summary>
    public Uri SimpleUri => new(BaseUri, "/simple/");
    public IReadOnlyList<RecordedRequest> Requests => _host!.Requests;

    /// <summary>Every connection is aborted without an answer (an index that is down).</summary>
    public bool Down { get; set; }
    /// <summary>When set, every request is answered with this status (e.g. 503).</summary>
    public int? FailWithStatus { get; set; }
    /// <summary>Serve HTML only, as an old mirror would (the client's fallback).</summary>
    public bool HtmlOnly { get; set; }
    /// <summary>Added to every answer (a slow index; with it, <see cref="MaxInFlight"/> shows a client's concurrency).</summary>
    public TimeSpan ResponseDelay { get; set; }
    /// <summary>When set, project pages require <c>Authorization: Basic base64(user:password)</c> with these (401 otherwise).</summary>
    public (string User, string Password)? RequiredCredentials { get; set; }
    /// <summary>The most requests this index was answering at the same time.</summary>
    public int MaxInFlight => _maxInFlight;

    private int _inFlight, _maxInFlight;

    public void AddFile(string project, PackageFile file)
    {
        lock (_lock)
        {
            if (!_projects.TryGetValue(project, out var files)) _projects[project] = files = [];
            files.Add(file);
        }
    }

    [GeneratedRegex("[-_.]+")]
    private static partial Regex Runs();

    private static string Normalize(string name) => Runs().Replace(name, "-").ToLowerInvariant();

    private async Task HandleAsync(HttpContext ctx)
    {
        var now = Interlocked.Increment(ref _inFlight);
        int seen;
        while ((seen = _maxInFlight) < now && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
        try
        {
            if (ResponseDelay > TimeSpan.Zero) await Task.Delay(ResponseDelay);
            await AnswerAsync(ctx);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task AnswerAsync(HttpContext ctx)
    {
        if (Down)
        {
            ctx.Features.Get<IHttpRequestLifetimeFeature>()?.Abort();
            return;
        }
        if (FailWithStatus is { } status)
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync($"{status} Service Unavailable (emulated)");
            return;
        }
        if (RequiredCredentials is { } creds && ctx.Request.Headers.Authorization.ToString()
                != "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{creds.User}:{creds.Password}")))
        {
            ctx.Response.StatusCode = 401;
            ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"index\"";
            return;
        }
        var path = ctx.Request.Path.Value ?? "/";
        if (path.StartsWith("/files/", StringComparison.Ordinal))
        {
            ctx.Response.ContentType = "application/octet-stream";
            return;
        }
        var m = Regex.Match(path, "^/simple/([^/]+)/?$");
        if (!m.Success)
        {
            ctx.Response.StatusCode = 404;
            return;
        }
        var name = WebUtility.UrlDecode(m.Groups[1].Value);
        var normalized = Normalize(name);
        if (name != normalized || !path.EndsWith('/'))
        {
            ctx.Response.StatusCode = 301;
            ctx.Response.Headers.Location = $"/simple/{normalized}/";
            return;
        }
        List<PackageFile>? files;
        lock (_lock) files = _projects.TryGetValue(normalized, out var found) ? found.ToList() : null;
        if (files is null)
        {
            ctx.Response.StatusCode = 404;
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync("404 Not Found");
            return;
        }
        ctx.Response.Headers.Vary = "Accept";
        ctx.Response.Headers.CacheControl = "max-age=600, public";
        if (!HtmlOnly && WantsJson(ctx.Request.Headers.Accept.ToString()))
        {
            ctx.Response.ContentType = "application/vnd.pypi.simple.v1+json";
            await ctx.Response.WriteAsync(Json(normalized, files).ToJsonString());
        }
        else
        {
            ctx.Response.ContentType = "application/vnd.pypi.simple.v1+html";
            await ctx.Response.WriteAsync(Html(normalized, files, "/files/"));
        }
    }

    /// <summary>JSON when the client offers the v1+json type (or latest+json) with a quality at least that of the HTML types.</summary>
    private static bool WantsJson(string accept)
    {
        double Quality(string type) => accept.Split(',').Select(p => p.Split(';').Select(s => s.Trim()).ToArray())
            .Where(p => p[0] == type).Select(p => p.Skip(1).FirstOrDefault(x => x.StartsWith("q=")) is { } q && double.TryParse(q[2..], System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 1.0)
            .DefaultIfEmpty(0).Max();
        var json = Math.Max(Quality("application/vnd.pypi.simple.v1+json"), Quality("application/vnd.pypi.simple.latest+json"));
        var html = Math.Max(Math.Max(Quality("application/vnd.pypi.simple.v1+html"), Quality("text/html")), Quality("application/vnd.pypi.simple.latest+html"));
        return json > 0 && json >= html;
    }

    private static JsonObject Json(string project, List<PackageFile> files) => new()
    {
        ["meta"] = new JsonObject { ["api-version"] = "1.3", ["_last-serial"] = 28000000 },
        ["name"] = project,
        ["versions"] = new JsonArray([.. files.Select(f => Version(project, f.Filename)).Distinct().Select(v => (JsonNode)v!)]),
        ["files"] = new JsonArray([.. files.Select(f => (JsonNode)new JsonObject
        {
            ["filename"] = f.Filename,
            ["url"] = $"/files/{f.Filename}",
            ["hashes"] = new JsonObject(),
            ["requires-python"] = f.RequiresPython,
            ["yanked"] = f.Yanked ? (f.YankedReason is { } r ? JsonValue.Create(r) : JsonValue.Create(true)) : JsonValue.Create(false),
            ["core-metadata"] = false,
            ["size"] = 0,
        })]),
    };

    /// <summary>A PEP 503 page: one anchor per file, requires-python HTML-escaped, yanked as <c>data-yanked</c>.</summary>
    public static string Html(string project, IEnumerable<PackageFile> files, string hrefPrefix)
    {
        var sb = new StringBuilder($"<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"1.3\">\n<title>Links for {project}</title>\n</head>\n<body>\n<h1>Links for {project}</h1>\n");
        foreach (var f in files)
        {
            sb.Append($"<a href=\"{hrefPrefix}{WebUtility.UrlEncode(f.Filename)}\"");
            if (f.RequiresPython is { } rp) sb.Append($" data-requires-python=\"{WebUtility.HtmlEncode(rp)}\"");
            if (f.Yanked) sb.Append($" data-yanked=\"{WebUtility.HtmlEncode(f.YankedReason ?? "")}\"");
            sb.Append($">{WebUtility.HtmlEncode(f.Filename)}</a><br/>\n");
        }
        return sb.Append("</body>\n</html>\n").ToString();
    }

    /// <summary>
    /// Writes the same projects as a PEP 503 directory that pip reads through <c>--index-url file:///DIR/simple</c>, with
    /// zero-byte stand-ins for the files (pip's choice shows in its "Processing …" line before it finds them invalid).
    /// </summary>
    public static void WriteLocalIndex(string dir, IReadOnlyDictionary<string, IReadOnlyList<PackageFile>> projects)
    {
        foreach (var (project, files) in projects)
        {
            var projectDir = Path.Combine(dir, "simple", project);
            Directory.CreateDirectory(projectDir);
            var filesDir = Path.Combine(dir, "files");
            Directory.CreateDirectory(filesDir);
            foreach (var f in files) File.WriteAllBytes(Path.Combine(filesDir, f.Filename), []);
            File.WriteAllText(Path.Combine(projectDir, "index.html"), Html(project, files, "../../files/"));
        }
    }

    private static string? Version(string project, string filename)
    {
        var stem = filename.EndsWith(".whl") ? filename.Split('-')[1] : filename.EndsWith(".tar.gz") ? filename[(project.Length + 1)..^7] : null;
        return stem;
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
    }
}
