using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Mlflow;

public sealed partial class MlflowEmulator
{
    private const string FlaskMethodNotAllowed =
        "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n";

    /// <summary>Requests MLflow answers before faults and authentication (its health check).</summary>
    private sealed class Unguarded;

    private void MapRoutes(WebApplication app)
    {
        app.Use(next => ctx => GuardAsync(ctx, next));
        app.Map("/health", ctx => Json.WriteTextAsync(ctx, 200, "OK")).WithMetadata(new Unguarded());

        foreach (var prefix in ApiPrefixes) MapApi(app.MapGroup(prefix));
        foreach (var prefix in ArtifactPrefixes) MapArtifactProxy(app.MapGroup(prefix));

        app.Map("/version", ctx => Json.WriteTextAsync(ctx, 200, "3.4.0"));
        MapGetOnly(app, "/model-versions/get-artifact", ctx =>
        {
            var q = new Params(ctx.Request.Query);
            var (name, version, file) = (q.Required("name"), q.Required("version"), q.Required("path"));
            var uri = _store.GetModelVersion(name, version).ArtifactLocation;
            return DownloadArtifactAsync(ctx, _store.ResolveArtifactKey(uri) + "/" + file.TrimStart('/'));
        });
        MapGetOnly(app, "/get-artifact", ctx =>
        {
            var q = new Params(ctx.Request.Query);
            var (runId, file) = (q.Required("run_id"), q.Required("path"));
            var uri = _store.RunArtifactUri(runId) ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run with id={runId} not found");
            return DownloadArtifactAsync(ctx, _store.ResolveArtifactKey(uri) + "/" + file.TrimStart('/'));
        });
        app.MapFallback("{**path}", ctx =>
            WriteErrorAsync(ctx, 404, "ENDPOINT_NOT_FOUND", $"No API endpoint found for '{ctx.Request.Path.Value ?? "/"}' ({ctx.Request.Method})."));
    }

    /// <summary>The REST API under one of <see cref="ApiPrefixes"/> (contracts/mlflow.md §2).</summary>
    private void MapApi(RouteGroupBuilder api)
    {
        MapRest(api, "registered-models/create", ("POST", CreateRegisteredModelRest));
        MapRest(api, "registered-models/get", ("GET", GetRegisteredModelRest));
        MapRest(api, "registered-models/search", ("GET", SearchRegisteredModelsRest));
        MapRest(api, "registered-models/update", ("PATCH", UpdateRegisteredModelRest));
        MapRest(api, "registered-models/delete", ("DELETE", DeleteRegisteredModelRest));
        MapRest(api, "registered-models/get-latest-versions", ("POST", LatestVersionsRest), ("GET", LatestVersionsRest));
        MapRest(api, "registered-models/set-tag", ("POST", SetRegisteredModelTagRest));
        MapRest(api, "registered-models/delete-tag", ("DELETE", DeleteRegisteredModelTagRest));
        MapRest(api, "registered-models/alias", ("GET", GetAliasRest), ("POST", SetAliasRest), ("DELETE", DeleteAliasRest));
        MapRest(api, "model-versions/create", ("POST", CreateModelVersionRest));
        MapRest(api, "model-versions/get", ("GET", GetModelVersionRest));
        MapRest(api, "model-versions/update", ("PATCH", UpdateModelVersionRest));
        MapRest(api, "model-versions/delete", ("DELETE", DeleteModelVersionRest));
        MapRest(api, "model-versions/search", ("GET", SearchModelVersionsRest));
        MapRest(api, "model-versions/get-download-uri", ("GET", DownloadUriRest));
        MapRest(api, "model-versions/set-tag", ("POST", SetModelVersionTagRest));
        MapRest(api, "model-versions/delete-tag", ("DELETE", DeleteModelVersionTagRest));
        MapRest(api, "runs/get", ("GET", GetRunRest));
        MapRest(api, "artifacts/list", ("GET", ListRunArtifactsRest));
        MapRest(api, "logged-models/{id}", ("GET", (ctx, _) => GetLoggedModelRest(Id(ctx))));
        MapRest(api, "webhooks", ("GET", ListWebhooksRest), ("POST", CreateWebhookRest));
        MapRest(api, "webhooks/{id}", ("GET", (ctx, _) => GetWebhookRest(Id(ctx))), ("PATCH", (ctx, p) => UpdateWebhookRest(Id(ctx), p)),
            ("DELETE", (ctx, _) => DeleteWebhookRest(Id(ctx))));

        const string testWebhook = "webhooks/{id}/test";
        api.MapPost(testWebhook, async ctx =>
            await Json.WriteAsync(ctx, 200, await TestWebhookRestAsync(Id(ctx), ReadParams(ctx)).ConfigureAwait(false)).ConfigureAwait(false));
        MapMethodNotAllowed(api, testWebhook);
        const string loggedModelFile = "logged-models/{id}/artifacts/files";
        api.MapGet(loggedModelFile, ctx =>
        {
            var file = ReadParams(ctx).Required("artifact_file_path");
            return DownloadArtifactAsync(ctx, _store.ResolveArtifactKey("models:/" + Id(ctx)) + "/" + file.TrimStart('/'));
        });
        MapMethodNotAllowed(api, loggedModelFile);

        api.MapFallback("{**endpoint}", ctx =>
        {
            ReadParams(ctx); // a bad body or content type is a 400 even where no endpoint is
            return WriteErrorAsync(ctx, 404, "ENDPOINT_NOT_FOUND", $"No API endpoint found for '{ctx.Request.Path}' ({ctx.Request.Method.ToUpperInvariant()}).");
        });
    }

    /// <summary>One REST endpoint answering JSON 200 for each of its methods.</summary>
    private static void MapRest(RouteGroupBuilder api, string pattern, params (string Method, Func<HttpContext, Params, JsonNode> Handle)[] methods)
    {
        foreach (var (method, handle) in methods)
            api.MapMethods(pattern, [method], ctx => Json.WriteAsync(ctx, 200, handle(ctx, ReadParams(ctx))));
        MapMethodNotAllowed(api, pattern);
    }

    /// <summary>One REST endpoint answering JSON already written as UTF-8 (the pages of searches and lists).</summary>
    private static void MapRest(RouteGroupBuilder api, string pattern, params (string Method, Func<Params, byte[]> Handle)[] methods)
    {
        foreach (var (method, handle) in methods)
            api.MapMethods(pattern, [method], ctx => Json.WriteUtf8Async(ctx, 200, handle(ReadParams(ctx))));
        MapMethodNotAllowed(api, pattern);
    }

    private static void MapRest(RouteGroupBuilder api, string pattern, params (string Method, Func<Params, JsonNode> Handle)[] methods) =>
        MapRest(api, pattern, methods.Select(m => (m.Method, (Func<HttpContext, Params, JsonNode>)((_, p) => m.Handle(p)))).ToArray());

    /// <summary>
    /// Every other method of <paramref name="pattern"/>: Flask's 405 page, after the same parameter checks (a POST
    /// without a JSON content type is a 400 first). Order 1, so the endpoints mapped for a method win.
    /// </summary>
    private static void MapMethodNotAllowed(RouteGroupBuilder api, string pattern) =>
        api.Map(pattern, ctx =>
        {
            ReadParams(ctx);
            throw new MethodNotAllowed();
        }).WithOrder(1);

    private static void MapGetOnly(IEndpointRouteBuilder routes, string pattern, RequestDelegate get)
    {
        routes.MapGet(pattern, get);
        routes.Map(pattern, _ => throw new MethodNotAllowed()).WithOrder(1);
    }

    /// <summary>The artifact proxy under one of <see cref="ArtifactPrefixes"/>: list, download, upload, delete.</summary>
    private void MapArtifactProxy(RouteGroupBuilder artifacts)
    {
        // Any method, so that a PUT of the bare prefix is a 405 here rather than an upload with an empty key.
        artifacts.Map("", ctx =>
        {
            RequireMethod(ctx, "GET");
            return ListArtifactsAsync(ctx, ctx.Request.Query["path"].ToString());
        });
        const string file = "{**key}";
        artifacts.MapGet(file, ctx => DownloadArtifactAsync(ctx, Key(ctx)));
        artifacts.MapPut(file, ctx =>
        {
            var key = Key(ctx);
            CheckArtifactPath(key);
            _store.PutArtifact(key.Trim('/'), (byte[])ctx.Items[EmulatorHost.BodyBytesKey]!);
            return Json.WriteAsync(ctx, 200, new JsonObject());
        });
        artifacts.MapDelete(file, ctx =>
        {
            var key = Key(ctx);
            CheckArtifactPath(key);
            _store.DeleteArtifacts(key.Trim('/'));
            return Json.WriteAsync(ctx, 200, new JsonObject());
        });
        artifacts.Map(file, _ => throw new MethodNotAllowed()).WithOrder(1);
    }

    private static string Id(HttpContext ctx) => (string)ctx.Request.RouteValues["id"]!;

    private static string Key(HttpContext ctx) => ctx.Request.RouteValues["key"] as string ?? "";

    /// <summary>
    /// What MLflow checks before any route, in its order: the injected delay; then, except for the health check,
    /// dropped connections, injected 503s and authentication. MLflow errors thrown by a route become its JSON error
    /// body, a wrong method Flask's HTML 405 page.
    /// </summary>
    private async Task GuardAsync(HttpContext ctx, RequestDelegate next)
    {
        var delay = Faults.Delay;
        if (delay > TimeSpan.Zero) await Task.Delay(delay, ctx.RequestAborted).ConfigureAwait(false);
        if (ctx.GetEndpoint()?.Metadata.GetMetadata<Unguarded>() is null)
        {
            if (Faults.TryConsumeDrop())
            {
                ctx.Abort();
                return;
            }
            if (Faults.TryConsumeFailure())
            {
                await WriteErrorAsync(ctx, 503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable (injected fault).").ConfigureAwait(false);
                return;
            }
            if (!IsAuthorized(ctx.Request))
            {
                if (_options.RequiredBasicUser is not null) ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"mlflow\"";
                await WriteErrorAsync(ctx, 401, "UNAUTHENTICATED", "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.").ConfigureAwait(false);
                return;
            }
        }
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        catch (MethodNotAllowed)
        {
            await Json.WriteTextAsync(ctx, 405, FlaskMethodNotAllowed, "text/html; charset=utf-8").ConfigureAwait(false);
        }
        catch (MlflowError e)
        {
            await WriteErrorAsync(ctx, e.Status, e.ErrorCode, e.Message).ConfigureAwait(false);
        }
    }

    private bool IsAuthorized(HttpRequest request)
    {
        var bearer = _options.RequiredBearerToken;
        var basicUser = _options.RequiredBasicUser;
        if (bearer is null && basicUser is null) return true;
        var header = request.Headers.Authorization.ToString();
        if (bearer is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && header[7..].Trim() == bearer) return true;
        if (basicUser is not null && header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
                var colon = decoded.IndexOf(':');
                if (colon >= 0 && decoded[..colon] == basicUser && decoded[(colon + 1)..] == (_options.RequiredBasicPassword ?? ""))
                    return true;
            }
            catch (FormatException) { }
        }
        return false;
    }

    private static Task WriteErrorAsync(HttpContext ctx, int status, string code, string message) =>
        Json.WriteAsync(ctx, status, MlflowWire.Error(code, message));

    private static void RequireMethod(HttpContext ctx, params string[] methods)
    {
        if (!methods.Contains(ctx.Request.Method, StringComparer.OrdinalIgnoreCase))
            throw new MethodNotAllowed();
    }

    private sealed class MethodNotAllowed() : MlflowError(405, "", "");

    private static void CheckArtifactPath(string key)
    {
        if (key.Split('/').Any(seg => seg == ".."))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Invalid path");
    }

    private async Task DownloadArtifactAsync(HttpContext ctx, string key)
    {
        CheckArtifactPath(key);
        key = key.Trim('/');
        var content = _store.GetArtifact(key);
        if (content is null)
        {
            await WriteErrorAsync(ctx, 404, "RESOURCE_DOES_NOT_EXIST", $"File '{key}' does not exist.").ConfigureAwait(false);
            return;
        }
        var fileName = key[(key.LastIndexOf('/') + 1)..];
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = content.Length;
        ctx.Response.Headers.ContentDisposition = $"attachment; filename={fileName}";
        await ctx.Response.Body.WriteAsync(content, ctx.RequestAborted).ConfigureAwait(false);
    }

    private Task ListArtifactsAsync(HttpContext ctx, string dir)
    {
        CheckArtifactPath(dir);
        var files = _store.ListArtifacts(dir).Select(f => MlflowWire.FileInfo(f.Name, f.IsDir, f.Size));
        return Json.WriteAsync(ctx, 200, MlflowWire.FileList(files));
    }

    // ------------------------------------------------------------------ REST API

    /// <summary>Query parameters for GET; otherwise the JSON body, which POST and PUT must declare as such.</summary>
    private static Params ReadParams(HttpContext ctx)
    {
        var method = ctx.Request.Method.ToUpperInvariant();
        if (method == "GET") return new Params(ctx.Request.Query);
        if (method == "POST" || method == "PUT")
        {
            var contentType = ctx.Request.ContentType;
            if (string.IsNullOrEmpty(contentType))
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type header is missing.");
            if (!contentType.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase))
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type must be one of ['application/json'].");
        }
        return new Params(ParseBody(Json.Body(ctx)));
    }

    private static JsonObject ParseBody(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return new JsonObject();
        try
        {
            return JsonNode.Parse(body) as JsonObject
                ?? throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Request body must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Malformed request body: {e.Message}");
        }
    }

    // ---- registered models

    private JsonNode CreateRegisteredModelRest(Params p)
    {
        var rm = _store.CreateRegisteredModel(p.Required("name"), p.Tags(), p.Get("description"));
        return MlflowWire.RegisteredModelResponse(rm);
    }

    private JsonNode GetRegisteredModelRest(Params p) =>
        MlflowWire.RegisteredModelResponse(_store.GetRegisteredModel(p.Required("name")));

    private JsonNode UpdateRegisteredModelRest(Params p)
    {
        var name = p.Required("name");
        var rm = _store.UpdateRegisteredModel(name, p.Get("description"));
        return MlflowWire.RegisteredModelResponse(rm);
    }

    private JsonNode DeleteRegisteredModelRest(Params p)
    {
        _store.DeleteRegisteredModel(p.Required("name"));
        return new JsonObject();
    }

    private byte[] LatestVersionsRest(Params p)
    {
        var name = p.Required("name");
        var versions = _store.GetLatestVersions(name, p.GetAll("stages"));
        return MlflowWire.Page(new RegistryPage<ModelVersionView>(versions, null), "model_versions", (w, mv) => MlflowWire.WriteModelVersion(w, mv, includeAliases: false));
    }

    private JsonNode SetRegisteredModelTagRest(Params p)
    {
        var name = p.Required("name");
        var key = p.Required("key");
        _store.SetRegisteredModelTag(name, key, p.Get("value") ?? throw Missing("value"));
        return new JsonObject();
    }

    private JsonNode DeleteRegisteredModelTagRest(Params p)
    {
        var name = p.Required("name");
        _store.DeleteRegisteredModelTag(name, p.Required("key"));
        return new JsonObject();
    }

    private byte[] SearchRegisteredModelsRest(Params p)
    {
        var maxResults = p.MaxResults(defaultValue: 100, limit: 1000);
        var offset = MlflowWire.ParsePageToken(p.Get("page_token"));
        var filter = SearchFilter.Parse(p.Get("filter"), RegisteredModelAttributes);
        var orderBy = ParseOrderBy(p.GetAll("order_by"), new Dictionary<string, string>
        {
            ["name"] = "name",
            ["timestamp"] = "last_updated_timestamp",
            ["last_updated_timestamp"] = "last_updated_timestamp",
            ["creation_timestamp"] = "creation_timestamp",
        });
        var page = _store.SearchRegisteredModels(filter, orderBy, offset, maxResults);
        return MlflowWire.Page(page, "registered_models", MlflowWire.WriteRegisteredModel);
    }

    // ---- model versions

    private JsonNode CreateModelVersionRest(Params p)
    {
        var name = p.Required("name");
        var source = p.Required("source");
        var runId = p.Get("run_id");
        var tags = p.Tags();
        var description = p.Get("description");
        if (source.Length > 500)
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"'source' exceeds the maximum length of 500 characters");
        var mv = _store.CreateModelVersion(name, source, runId, tags, description);
        return MlflowWire.ModelVersionResponse(mv);
    }

    private JsonNode GetModelVersionRest(Params p)
    {
        var mv = _store.GetModelVersion(p.Required("name"), p.Required("version"));
        return MlflowWire.ModelVersionResponse(mv);
    }

    private JsonNode UpdateModelVersionRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        var mv = _store.UpdateModelVersion(name, version, p.Get("description"));
        return MlflowWire.ModelVersionResponse(mv);
    }

    private JsonNode DeleteModelVersionRest(Params p)
    {
        _store.DeleteModelVersion(p.Required("name"), p.Required("version"));
        return new JsonObject();
    }

    private byte[] SearchModelVersionsRest(Params p)
    {
        var maxResults = p.MaxResults(defaultValue: 10000, limit: 200000);
        var offset = MlflowWire.ParsePageToken(p.Get("page_token"));
        var filter = SearchFilter.Parse(p.Get("filter"), ModelVersionAttributes);
        if (Faults.RefuseVersionNameLike && filter.Conditions.FirstOrDefault(c => !c.IsTag && c.Key == "name" && c.Op is "LIKE" or "ILIKE") is { } like)
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid comparator '{like.Op}' not one of '['=', 'IN']'");
        var orderBy = ParseOrderBy(p.GetAll("order_by"), new Dictionary<string, string>
        {
            ["name"] = "name",
            ["version_number"] = "version_number",
            ["timestamp"] = "creation_timestamp",
            ["creation_timestamp"] = "creation_timestamp",
            ["last_updated_timestamp"] = "last_updated_timestamp",
            ["run_id"] = "run_id",
            ["source_path"] = "source_path",
        });
        var page = _store.SearchModelVersions(filter, orderBy, offset, maxResults);
        // Search results do not carry aliases (MLflow documents that they may be missing).
        return MlflowWire.Page(page, "model_versions", (w, mv) => MlflowWire.WriteModelVersion(w, mv, includeAliases: false));
    }

    private JsonNode DownloadUriRest(Params p)
    {
        var mv = _store.GetModelVersion(p.Required("name"), p.Required("version"));
        return MlflowWire.DownloadUriResponse(mv);
    }

    private JsonNode SetModelVersionTagRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        var key = p.Required("key");
        var value = p.Get("value") ?? throw Missing("value");
        if (key.Length > 250) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "'key' exceeds the maximum length of 250 characters");
        _store.SetModelVersionTag(name, version, key, value);
        return new JsonObject();
    }

    private JsonNode DeleteModelVersionTagRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        _store.DeleteModelVersionTag(name, version, p.Required("key"));
        return new JsonObject();
    }

    // ---- aliases

    private static void ValidateAlias(string alias)
    {
        if (alias.Length > 255)
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"'alias' exceeds the maximum length of 255 characters");
        if (!AliasPattern().IsMatch(alias))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE",
                $"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).");
        if (alias.Equals("latest", StringComparison.OrdinalIgnoreCase) || ReservedVersionAlias().IsMatch(alias))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE",
                $"'{alias}' alias name (case insensitive) is reserved.");
    }

    [GeneratedRegex(@"^[\w\-]*$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex(@"^v\d+$", RegexOptions.IgnoreCase)]
    private static partial Regex ReservedVersionAlias();

    private JsonNode GetAliasRest(Params p)
    {
        var name = p.Required("name");
        var mv = _store.GetModelVersionByAlias(name, p.Required("alias"));
        return MlflowWire.ModelVersionResponse(mv);
    }

    private JsonNode SetAliasRest(Params p)
    {
        var name = p.Required("name");
        var alias = p.Required("alias");
        var version = p.Required("version");
        ValidateAlias(alias);
        _store.SetAlias(name, alias, version);
        return new JsonObject();
    }

    private JsonNode DeleteAliasRest(Params p)
    {
        _store.DeleteAlias(p.Required("name"), p.Required("alias"));
        return new JsonObject();
    }

    // ---- runs, logged models

    private JsonNode GetRunRest(Params p)
    {
        var runId = p.Get("run_id") ?? p.Get("run_uuid") ?? throw Missing("run_id");
        return MlflowWire.Run(runId, RunArtifactUriOrThrow(runId));
    }

    private JsonNode ListRunArtifactsRest(Params p)
    {
        var runId = p.Get("run_id") ?? p.Get("run_uuid") ?? throw Missing("run_id");
        var sub = (p.Get("path") ?? "").Trim('/');
        CheckArtifactPath(sub);
        var uri = RunArtifactUriOrThrow(runId);
        // Only files the artifact proxy serves are listed; a run stored elsewhere lists none.
        var key = MlflowRegistryStore.ArtifactKeyFromUri(uri);
        IEnumerable<JsonObject> files = key is null ? [] : _store.ListArtifacts(sub.Length == 0 ? key : key + "/" + sub)
            .Select(f => MlflowWire.FileInfo(sub.Length == 0 ? f.Name : sub + "/" + f.Name, f.IsDir, f.Size));
        return MlflowWire.FileList(files, rootUri: uri);
    }

    private string RunArtifactUriOrThrow(string runId) =>
        _store.RunArtifactUri(runId) ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run '{runId}' not found");

    private JsonNode GetLoggedModelRest(string modelId)
    {
        var uri = _store.LoggedModelArtifactUri(modelId)
            ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Logged model with ID '{modelId}' not found.");
        return MlflowWire.LoggedModel(modelId, uri);
    }

    // ---- request helpers

    private static MlflowError Missing(string name) =>
        new(400, "INVALID_PARAMETER_VALUE", $"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.");

    private static List<(string Key, bool Asc)> ParseOrderBy(IReadOnlyList<string> clauses, IReadOnlyDictionary<string, string> allowed)
    {
        var result = new List<(string, bool)>();
        foreach (var raw in clauses)
        {
            if (string.IsNullOrWhiteSpace(raw)) continue;
            var parts = raw.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var key = parts[0].Trim('`');
            if (key.StartsWith("attributes.", StringComparison.OrdinalIgnoreCase)) key = key["attributes.".Length..];
            if (parts.Length > 2 || !allowed.TryGetValue(key, out var column))
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid order_by clause '{raw}'. Only ordering by {string.Join(", ", allowed.Keys)} is supported.");
            var asc = true;
            if (parts.Length == 2)
            {
                if (parts[1].Equals("DESC", StringComparison.OrdinalIgnoreCase)) asc = false;
                else if (!parts[1].Equals("ASC", StringComparison.OrdinalIgnoreCase))
                    throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid order_by clause '{raw}'. Order must be ASC or DESC.");
            }
            result.Add((column, asc));
        }
        return result;
    }

    /// <summary>Request parameters: query string for GET, JSON body otherwise.</summary>
    private sealed class Params
    {
        private readonly IQueryCollection? _query;
        private readonly JsonObject? _json;

        public Params(IQueryCollection query) => _query = query;

        public Params(JsonObject json) => _json = json;

        public string? Get(string name)
        {
            if (_query is not null)
                return _query.TryGetValue(name, out var v) && v.Count > 0 ? v[0] : null;
            var node = _json![name];
            return node switch
            {
                null => null,
                JsonValue jv when jv.GetValueKind() == JsonValueKind.String => jv.GetValue<string>(),
                JsonValue jv => jv.ToJsonString(),
                _ => throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid value {node.ToJsonString()} for parameter '{name}' supplied."),
            };
        }

        public JsonNode? Node(string name) => _json?[name];

        public string Required(string name)
        {
            var v = Get(name);
            if (string.IsNullOrEmpty(v)) throw Missing(name);
            return v;
        }

        public IReadOnlyList<string> GetAll(string name)
        {
            if (_query is not null)
                return _query.TryGetValue(name, out var v) ? v.Where(s => s is not null).Select(s => s!).ToList() : [];
            return _json![name] switch
            {
                null => [],
                JsonArray a => a.Select(n => n is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : n?.ToJsonString() ?? "").ToList(),
                JsonValue jv when jv.GetValueKind() == JsonValueKind.String => [jv.GetValue<string>()],
                var other => [other.ToJsonString()],
            };
        }

        public int MaxResults(int defaultValue, int limit)
        {
            var raw = Get("max_results");
            if (string.IsNullOrEmpty(raw)) return defaultValue;
            if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid value \"{raw}\" for parameter 'max_results' supplied.");
            if (value <= 0)
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid value for max_results. It must be a positive integer, but got {value}");
            if (value > limit)
                throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid value for max_results. It must be at most {limit}, but got value {value}");
            return (int)value;
        }

        /// <summary>The <c>tags</c> array of <c>{key, value}</c> objects (JSON body only).</summary>
        public IReadOnlyDictionary<string, string>? Tags()
        {
            if (_json?["tags"] is not JsonArray a) return null;
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in a)
            {
                var key = Json.AsString(item?["key"]);
                if (string.IsNullOrEmpty(key)) throw Missing("key");
                result[key] = Json.AsString(item?["value"]) ?? item?["value"]?.ToJsonString() ?? "";
            }
            return result;
        }
    }
}
