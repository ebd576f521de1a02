using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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
            string uri;
            lock (_store.Lock)
            {
                var mv = _store.GetVersion(name, version);
                uri = mv.StorageLocation ?? mv.Source;
            }
            return DownloadArtifactAsync(ctx, ResolveArtifactKey(uri) + "/" + file.TrimStart('/'));
        });
        MapGetOnly(app, "/get-artifact", ctx =>
        {
            var q = new Params(ctx.Request.Query);
            var (runId, file) = (q.Required("run_id"), q.Required("path"));
            string uri;
            lock (_store.Lock)
            {
                if (!_store.Runs.TryGetValue(runId, out uri!))
                    throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run with id={runId} not found");
            }
            return DownloadArtifactAsync(ctx, ResolveArtifactKey(uri) + "/" + file.TrimStart('/'));
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
            return DownloadArtifactAsync(ctx, ResolveArtifactKey("models:/" + Id(ctx)) + "/" + file.TrimStart('/'));
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
            lock (_store.Lock) _store.Artifacts[key.Trim('/')] = (byte[])ctx.Items[EmulatorHost.BodyBytesKey]!;
            return Json.WriteAsync(ctx, 200, new JsonObject());
        });
        artifacts.MapDelete(file, ctx =>
        {
            var key = Key(ctx);
            CheckArtifactPath(key);
            lock (_store.Lock)
            {
                var k = key.Trim('/');
                foreach (var existing in _store.Artifacts.Keys.Where(x => x == k || x.StartsWith(k + "/", StringComparison.Ordinal)).ToList())
                    _store.Artifacts.Remove(existing);
            }
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
        Json.WriteAsync(ctx, status, new JsonObject { ["error_code"] = code, ["message"] = message });

    private static void RequireMethod(HttpContext ctx, params string[] methods)
    {
        if (!methods.Contains(ctx.Request.Method, StringComparer.OrdinalIgnoreCase))
            throw new MethodNotAllowed();
    }

    private sealed class MethodNotAllowed() : MlflowError(405, "", "");

    /// <summary>Turns an artifact location (mlflow-artifacts:, runs:/, models:/m-…) into a key of the artifact store.</summary>
    private string ResolveArtifactKey(string uri, int depth = 0)
    {
        if (depth > 4) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Cannot resolve artifact location '{uri}'.");
        var key = ArtifactKeyFromUri(uri);
        if (key is not null) return key;
        if (uri.StartsWith("runs:/", StringComparison.Ordinal))
        {
            var rest = uri["runs:/".Length..].Trim('/');
            var slash = rest.IndexOf('/');
            var runId = slash < 0 ? rest : rest[..slash];
            var sub = slash < 0 ? "" : rest[(slash + 1)..];
            string runUri;
            lock (_store.Lock)
            {
                if (!_store.Runs.TryGetValue(runId, out runUri!))
                    throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run with id={runId} not found");
            }
            var baseKey = ResolveArtifactKey(runUri, depth + 1);
            return sub.Length == 0 ? baseKey : baseKey + "/" + sub;
        }
        if (uri.StartsWith("models:/m-", StringComparison.Ordinal))
        {
            var id = uri["models:/".Length..].Trim('/');
            string modelUri;
            lock (_store.Lock)
            {
                if (!_store.LoggedModels.TryGetValue(id, out modelUri!))
                    throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Logged model with ID '{id}' not found.");
            }
            return ResolveArtifactKey(modelUri, depth + 1);
        }
        throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"The artifact location '{uri}' is not served by this tracking server.");
    }

    private static void CheckArtifactPath(string key)
    {
        if (key.Split('/').Any(seg => seg == ".."))
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Invalid path");
    }

    private async Task DownloadArtifactAsync(HttpContext ctx, string key)
    {
        CheckArtifactPath(key);
        key = key.Trim('/');
        byte[]? content;
        lock (_store.Lock) _store.Artifacts.TryGetValue(key, out content);
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

    private List<(string Name, bool IsDir, long Size)> ListChildren(string dir)
    {
        dir = dir.Trim('/');
        var prefix = dir.Length == 0 ? "" : dir + "/";
        var result = new SortedDictionary<string, (bool IsDir, long Size)>(StringComparer.Ordinal);
        lock (_store.Lock)
        {
            foreach (var (key, content) in _store.Artifacts)
            {
                if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
                var rest = key[prefix.Length..];
                var slash = rest.IndexOf('/');
                if (slash < 0) result[rest] = (false, content.LongLength);
                else result.TryAdd(rest[..slash], (true, 0));
            }
        }
        return result.Select(kv => (kv.Key, kv.Value.IsDir, kv.Value.Size)).ToList();
    }

    private static JsonObject FileInfo(string path, bool isDir, long size)
    {
        var o = new JsonObject { ["path"] = path, ["is_dir"] = isDir };
        if (!isDir) o["file_size"] = size;
        return o;
    }

    private async Task ListArtifactsAsync(HttpContext ctx, string dir)
    {
        CheckArtifactPath(dir);
        var files = new JsonArray();
        foreach (var (name, isDir, size) in ListChildren(dir)) files.Add(FileInfo(name, isDir, size));
        var body = new JsonObject();
        if (files.Count > 0) body["files"] = files;
        await Json.WriteAsync(ctx, 200, body).ConfigureAwait(false);
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
        var name = p.Required("name");
        var tags = p.Tags();
        var description = p.Get("description");
        lock (_store.Lock)
        {
            if (_store.Models.ContainsKey(name))
                throw new MlflowError(400, "RESOURCE_ALREADY_EXISTS", $"Registered Model (name={name}) already exists.");
            var rm = _store.CreateRegisteredModel(name, tags, description);
            var json = new JsonObject { ["registered_model"] = ModelJson(rm) };
            Fire("registered_model.created", new JsonObject { ["name"] = name, ["tags"] = TagsObject(tags), ["description"] = description });
            return json;
        }
    }

    private JsonNode GetRegisteredModelRest(Params p)
    {
        var name = p.Required("name");
        lock (_store.Lock) return new JsonObject { ["registered_model"] = ModelJson(_store.GetModel(name)) };
    }

    private JsonNode UpdateRegisteredModelRest(Params p)
    {
        var name = p.Required("name");
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            var description = p.Get("description");
            if (description is not null) rm.Description = description;
            rm.LastUpdatedTimestamp = _store.Now();
            return new JsonObject { ["registered_model"] = ModelJson(rm) };
        }
    }

    private JsonNode DeleteRegisteredModelRest(Params p)
    {
        DeleteRegisteredModel(p.Required("name"));
        return new JsonObject();
    }

    private JsonNode LatestVersionsRest(Params p)
    {
        var name = p.Required("name");
        var stages = p.GetAll("stages");
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            var a = new JsonArray();
            foreach (var mv in LatestPerStage(rm, stages).Where(v => v.Status == "READY")) a.Add(VersionJson(rm, mv, includeAliases: false));
            var o = new JsonObject();
            if (a.Count > 0) o["model_versions"] = a;
            return o;
        }
    }

    private JsonNode SetRegisteredModelTagRest(Params p)
    {
        var name = p.Required("name");
        var key = p.Required("key");
        SetRegisteredModelTag(name, key, p.Get("value") ?? throw Missing("value"));
        return new JsonObject();
    }

    private JsonNode DeleteRegisteredModelTagRest(Params p)
    {
        var name = p.Required("name");
        var key = p.Required("key");
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            if (rm.Tags.Remove(key)) rm.LastUpdatedTimestamp = _store.Now();
        }
        return new JsonObject();
    }

    private JsonNode SearchRegisteredModelsRest(Params p)
    {
        var maxResults = p.MaxResults(defaultValue: 100, limit: 1000);
        var offset = ParsePageToken(p.Get("page_token"));
        var filter = SearchFilter.Parse(p.Get("filter"), RegisteredModelAttributes);
        var orderBy = ParseOrderBy(p.GetAll("order_by"), new Dictionary<string, string>
        {
            ["name"] = "name",
            ["timestamp"] = "last_updated_timestamp",
            ["last_updated_timestamp"] = "last_updated_timestamp",
            ["creation_timestamp"] = "creation_timestamp",
        });
        lock (_store.Lock)
        {
            IEnumerable<RegisteredModel> query = _store.Models.Values
                .Where(rm => !IsPrompt(rm.Tags.ToDictionary()))
                .Where(rm => filter.Matches(attr => attr == "name" ? rm.Name : null, rm.Tags.ToDictionary()));
            var sorted = Sort(query, orderBy, (rm, key) => key switch
            {
                "name" => rm.Name,
                "creation_timestamp" => rm.CreationTimestamp,
                _ => (IComparable)rm.LastUpdatedTimestamp,
            }, rm => rm.Name, null);
            return Page(sorted, offset, maxResults, "registered_models", ModelJson);
        }
    }

    private static bool IsPrompt(IReadOnlyDictionary<string, string> tags) =>
        tags.TryGetValue("mlflow.prompt.is_prompt", out var v) && v.Equals("true", StringComparison.OrdinalIgnoreCase);

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
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            var mv = _store.CreateVersion(rm, source, runId, tags, "READY", null, description);
            Fire("model_version.created", new JsonObject
            {
                ["name"] = name,
                ["version"] = mv.Version.ToString(CultureInfo.InvariantCulture),
                ["source"] = source,
                ["run_id"] = string.IsNullOrEmpty(runId) ? null : runId,
                ["tags"] = TagsObject(tags),
                ["description"] = description,
            });
            return new JsonObject { ["model_version"] = VersionJson(rm, mv, includeAliases: true) };
        }
    }

    private JsonNode GetModelVersionRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        lock (_store.Lock)
        {
            var mv = _store.GetVersion(name, version);
            return new JsonObject { ["model_version"] = VersionJson(_store.Models[name], mv, includeAliases: true) };
        }
    }

    private JsonNode UpdateModelVersionRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        lock (_store.Lock)
        {
            var mv = _store.GetVersion(name, version);
            var description = p.Get("description");
            if (description is not null) mv.Description = description;
            mv.LastUpdatedTimestamp = _store.Now();
            return new JsonObject { ["model_version"] = VersionJson(_store.Models[name], mv, includeAliases: true) };
        }
    }

    private JsonNode DeleteModelVersionRest(Params p)
    {
        DeleteModelVersion(p.Required("name"), p.Required("version"));
        return new JsonObject();
    }

    private JsonNode SearchModelVersionsRest(Params p)
    {
        var maxResults = p.MaxResults(defaultValue: 10000, limit: 200000);
        var offset = ParsePageToken(p.Get("page_token"));
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
        lock (_store.Lock)
        {
            var rows = _store.Models.Values
                .Where(rm => !IsPrompt(rm.Tags.ToDictionary()))
                .SelectMany(rm => rm.Versions.Values.Select(mv => (rm, mv)))
                .Where(x => filter.Matches(attr => attr switch
                {
                    "name" => x.mv.Name,
                    "run_id" => x.mv.RunId,
                    "source_path" => x.mv.Source,
                    "version_number" => x.mv.Version.ToString(CultureInfo.InvariantCulture),
                    _ => null,
                }, x.mv.Tags.ToDictionary()));
            if (orderBy.Count == 0)
                orderBy = [("last_updated_timestamp", false), ("name", true), ("version_number", false)];
            var sorted = Sort(rows, orderBy, (x, key) => key switch
            {
                "name" => x.mv.Name,
                "version_number" => x.mv.Version,
                "creation_timestamp" => x.mv.CreationTimestamp,
                "run_id" => x.mv.RunId ?? "",
                "source_path" => x.mv.Source,
                _ => (IComparable)x.mv.LastUpdatedTimestamp,
            }, x => x.mv.Name, x => x.mv.Version);
            // Search results do not carry aliases (MLflow documents that they may be missing).
            return Page(sorted, offset, maxResults, "model_versions", x => VersionJson(x.rm, x.mv, includeAliases: false));
        }
    }

    private JsonNode DownloadUriRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        lock (_store.Lock)
        {
            var mv = _store.GetVersion(name, version);
            return new JsonObject { ["artifact_uri"] = mv.StorageLocation ?? mv.Source };
        }
    }

    private JsonNode SetModelVersionTagRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        var key = p.Required("key");
        var value = p.Get("value") ?? throw Missing("value");
        if (key.Length > 250) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "'key' exceeds the maximum length of 250 characters");
        SetModelVersionTag(name, version, key, value);
        return new JsonObject();
    }

    private JsonNode DeleteModelVersionTagRest(Params p)
    {
        var name = p.Required("name");
        var version = p.Required("version");
        var key = p.Required("key");
        lock (_store.Lock)
        {
            var mv = _store.GetVersion(name, version);
            if (mv.Tags.Remove(key)) mv.LastUpdatedTimestamp = _store.Now();
            Fire("model_version_tag.deleted", new JsonObject { ["name"] = name, ["version"] = version, ["key"] = key });
        }
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

    private JsonNode GetAliasRest(Params p)
    {
        var name = p.Required("name");
        var alias = p.Required("alias");
        lock (_store.Lock)
        {
            var rm = _store.GetModel(name);
            var version = rm.ResolveAlias(alias)
                ?? throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Registered model alias {alias} not found.");
            return new JsonObject { ["model_version"] = VersionJson(rm, rm.Versions[version], includeAliases: true) };
        }
    }

    private JsonNode SetAliasRest(Params p)
    {
        var name = p.Required("name");
        var alias = p.Required("alias");
        var version = p.Required("version");
        ValidateAlias(alias);
        SetAlias(name, alias, version);
        return new JsonObject();
    }

    private JsonNode DeleteAliasRest(Params p)
    {
        DeleteAlias(p.Required("name"), p.Required("alias"));
        return new JsonObject();
    }

    // ---- runs, logged models

    private JsonNode GetRunRest(Params p)
    {
        var runId = p.Get("run_id") ?? p.Get("run_uuid") ?? throw Missing("run_id");
        string uri;
        lock (_store.Lock)
        {
            if (!_store.Runs.TryGetValue(runId, out uri!))
                throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run '{runId}' not found");
        }
        var info = new JsonObject
        {
            ["run_uuid"] = runId,
            ["experiment_id"] = ExperimentIdOf(uri),
            ["status"] = "FINISHED",
            ["artifact_uri"] = uri,
            ["lifecycle_stage"] = "active",
            ["run_id"] = runId,
        };
        return new JsonObject { ["run"] = new JsonObject { ["info"] = info, ["data"] = new JsonObject() } };
    }

    private static string ExperimentIdOf(string artifactUri)
    {
        var key = ArtifactKeyFromUri(artifactUri);
        var first = key?.Split('/')[0];
        return first is { Length: > 0 } && first.All(char.IsDigit) ? first : "0";
    }

    private JsonNode ListRunArtifactsRest(Params p)
    {
        var runId = p.Get("run_id") ?? p.Get("run_uuid") ?? throw Missing("run_id");
        var sub = (p.Get("path") ?? "").Trim('/');
        CheckArtifactPath(sub);
        string uri;
        lock (_store.Lock)
        {
            if (!_store.Runs.TryGetValue(runId, out uri!))
                throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Run '{runId}' not found");
        }
        var o = new JsonObject { ["root_uri"] = uri };
        var key = ArtifactKeyFromUri(uri);
        if (key is null) return o;
        var files = new JsonArray();
        var dir = sub.Length == 0 ? key : key + "/" + sub;
        foreach (var (name, isDir, size) in ListChildren(dir))
            files.Add(FileInfo(sub.Length == 0 ? name : sub + "/" + name, isDir, size));
        if (files.Count > 0) o["files"] = files;
        return o;
    }

    private JsonNode GetLoggedModelRest(string modelId)
    {
        string uri;
        lock (_store.Lock)
        {
            if (!_store.LoggedModels.TryGetValue(modelId, out uri!))
                throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Logged model with ID '{modelId}' not found.");
        }
        var info = new JsonObject
        {
            ["model_id"] = modelId,
            ["experiment_id"] = ExperimentIdOf(uri),
            ["artifact_uri"] = uri,
            ["status"] = "LOGGED_MODEL_READY",
            ["lifecycle_stage"] = "active",
        };
        return new JsonObject { ["model"] = new JsonObject { ["info"] = info, ["data"] = new JsonObject() } };
    }

    // ---- search helpers

    private static MlflowError Missing(string name) =>
        new(400, "INVALID_PARAMETER_VALUE", $"Missing value for required parameter '{name}'. See the API docs for more information about request parameters.");

    internal static int ParsePageToken(string? token)
    {
        if (string.IsNullOrEmpty(token)) return 0;
        byte[] decoded;
        try { decoded = Convert.FromBase64String(token); }
        catch (FormatException) { throw new MlflowError(400, "INVALID_PARAMETER_VALUE", "Invalid page token, could not base64-decode"); }
        try
        {
            var parsed = JsonNode.Parse(decoded);
            var offsetNode = parsed?["offset"];
            if (offsetNode is null) throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid page token, parsed value={Encoding.UTF8.GetString(decoded)}");
            var offset = offsetNode.GetValueKind() == JsonValueKind.String
                ? int.Parse(offsetNode.GetValue<string>(), CultureInfo.InvariantCulture)
                : offsetNode.GetValue<int>();
            if (offset < 0) throw new FormatException();
            return offset;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new MlflowError(400, "INVALID_PARAMETER_VALUE", $"Invalid page token, decoded value={Encoding.UTF8.GetString(decoded)}");
        }
    }

    /// <summary>MLflow's token: base64 of <c>json.dumps({"offset": n})</c>.</summary>
    internal static string CreatePageToken(int offset) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"offset\": " + offset.ToString(CultureInfo.InvariantCulture) + "}"));

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

    private static List<T> Sort<T>(IEnumerable<T> items, List<(string Key, bool Asc)> orderBy,
        Func<T, string, IComparable> value, Func<T, string> name, Func<T, int>? version)
    {
        var list = items.ToList();
        list.Sort((a, b) =>
        {
            foreach (var (key, asc) in orderBy)
            {
                var va = value(a, key);
                var vb = value(b, key);
                var c = va is string sa && vb is string sb ? string.CompareOrdinal(sa, sb) : va.CompareTo(vb);
                if (c != 0) return asc ? c : -c;
            }
            var n = string.CompareOrdinal(name(a), name(b));
            if (n != 0) return n;
            return version is null ? 0 : version(b).CompareTo(version(a));
        });
        return list;
    }

    private static JsonObject Page<T>(List<T> sorted, int offset, int maxResults, string key, Func<T, JsonObject> toJson)
    {
        var o = new JsonObject();
        var page = sorted.Skip(offset).Take(maxResults).ToList();
        if (page.Count > 0)
        {
            var a = new JsonArray();
            foreach (var item in page) a.Add(toJson(item));
            o[key] = a;
        }
        if (offset + maxResults < sorted.Count) o["next_page_token"] = CreatePageToken(offset + maxResults);
        return o;
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
