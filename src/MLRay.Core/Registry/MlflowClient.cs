using System.Net.Http.Headers;
using Flurl.Http;
using Flurl.Http.Configuration;
using MLRay.Http;

namespace MLRay.Registry;

/// <summary>
/// The MLflow tracking server's registry and artifact REST API (contracts/mlflow.md §2–3). GET takes query
/// parameters, POST/PATCH take JSON bodies; every list call follows <c>next_page_token</c>; MLflow error bodies
/// become <see cref="MlflowException"/>. Requests go through the <see cref="MLRayHttpClients.Mlflow"/> client, which
/// retries only what is marked safe to resend:
/// <list type="table">
/// <listheader><term>endpoint</term><description>retried on transient errors?</description></listheader>
/// <item><term>every GET (registered-models, model-versions, aliases, download URI, runs, logged models, artifacts, webhooks list)</term><description>yes: reads</description></item>
/// <item><term><c>POST model-versions/set-tag</c></term><description>yes: overwrites one key with one value</description></item>
/// <item><term><c>PATCH webhooks/{id}</c></term><description>yes: sets the given fields to the given values</description></item>
/// <item><term><c>POST webhooks</c></term><description>no: a lost answer then a resend would create a second webhook</description></item>
/// <item><term><c>POST webhooks/{id}/test</c></term><description>no: each call makes MLflow deliver once more to the receiver</description></item>
/// </list>
/// </summary>
public sealed class MlflowClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly IFlurlClient _http;
    private readonly int _pageSize;
    private readonly int _versionPageSize;

    /// <param name="http">The process's factory (<see cref="MLRayHttpClients.AddMLRayHttpClients"/>): its handlers and telemetry.</param>
    public MlflowClient(Uri trackingUri, IHttpClientFactory http, MlflowCredentials? credentials = null, int pageSize = 1000,
        int versionPageSize = DefaultVersionPageSize)
    {
        TrackingUri = trackingUri;
        _pageSize = pageSize;
        _versionPageSize = versionPageSize;
        _http = new FlurlClient(http.CreateClient(MLRayHttpClients.Mlflow), trackingUri.ToString().TrimEnd('/'))
            .WithSettings(s =>
            {
                s.JsonSerializer = new DefaultJsonSerializer(Json);
                s.Timeout = null; // the client's resilience pipeline times each attempt and the whole request
            })
            .WithHeader("User-Agent", "mlray")
            .AllowAnyHttpStatus();
        if (credentials?.Token is { Length: > 0 } token)
            _http.WithOAuthBearerToken(token);
        else if (credentials?.Username is { Length: > 0 } user)
            _http.WithBasicAuth(user, credentials.Password ?? "");
    }

    public Uri TrackingUri { get; }

    private const string Api = "api/2.0/mlflow";

    public Task<RegisteredModel> GetRegisteredModelAsync(string name, CancellationToken ct = default) =>
        GetAsync<RegisteredModelResponse>("registered-models/get", new { name }, ct).Then(r => r.RegisteredModel);

    public Task<ModelVersion> GetModelVersionAsync(string name, string version, CancellationToken ct = default) =>
        GetAsync<ModelVersionResponse>("model-versions/get", new { name, version }, ct).Then(r => r.ModelVersion);

    /// <summary>Registered models whose name ends with <paramref name="suffix"/> (<c>name LIKE '%suffix'</c>), all pages.</summary>
    public async Task<IReadOnlyList<RegisteredModel>> SearchRegisteredModelsBySuffixAsync(string suffix, CancellationToken ct = default)
    {
        var all = await SearchAllAsync<SearchRegisteredModelsResponse, RegisteredModel>("registered-models/search", SuffixFilter(suffix),
            _pageSize, page => (page.RegisteredModels, page.NextPageToken), ct);
        return all.Where(m => m.Name.EndsWith(suffix, StringComparison.Ordinal)).ToList();
    }

    /// <summary>
    /// Every version of every registered model whose name ends with <paramref name="suffix"/>, all pages, each with its
    /// status and tags but no aliases (contracts/mlflow.md §2.7). A server that refuses <c>LIKE</c> on versions answers
    /// 400 <c>INVALID_PARAMETER_VALUE</c>.
    /// </summary>
    public async Task<IReadOnlyList<ModelVersion>> SearchModelVersionsBySuffixAsync(string suffix, CancellationToken ct = default)
    {
        var all = await SearchAllAsync<SearchModelVersionsResponse, ModelVersion>("model-versions/search", SuffixFilter(suffix),
            _versionPageSize, page => (page.ModelVersions, page.NextPageToken), ct);
        return all.Where(v => v.Name.EndsWith(suffix, StringComparison.Ordinal)).ToList();
    }

    /// <summary>All versions of one registered model, all pages. Aliases may be missing here; use the registered model's.</summary>
    public Task<IReadOnlyList<ModelVersion>> SearchModelVersionsAsync(string name, CancellationToken ct = default) =>
        SearchAllAsync<SearchModelVersionsResponse, ModelVersion>("model-versions/search", $"name = '{Quote(name)}'",
            _versionPageSize, page => (page.ModelVersions, page.NextPageToken), ct);

    /// <summary>MLflow takes up to 200000 versions a page; 10000 keeps one page of a large registry under a few MB.</summary>
    public const int DefaultVersionPageSize = 10_000;

    // LIKE treats '_' and '%' as wildcards and MLflow has no escape, so callers filter exactly on their side afterwards.
    private static string SuffixFilter(string suffix) => $"name LIKE '%{Quote(suffix)}'";

    private static string Quote(string value) => value.Replace("'", "\\'");

    /// <summary>Follows <c>next_page_token</c> until the last page.</summary>
    private async Task<IReadOnlyList<TItem>> SearchAllAsync<TPage, TItem>(string endpoint, string filter, int pageSize,
        Func<TPage, (List<TItem>? Items, string? NextPageToken)> read, CancellationToken ct)
    {
        var all = new List<TItem>();
        string? token = null;
        do
        {
            var (items, next) = read(await GetAsync<TPage>(endpoint, new { filter, max_results = pageSize, page_token = token }, ct));
            all.AddRange(items ?? []);
            token = next;
        } while (!string.IsNullOrEmpty(token));
        return all;
    }

    /// <summary>The version an alias points to, or null when the alias does not exist (MLflow answers 400 for that).</summary>
    public async Task<ModelVersion?> GetModelVersionByAliasAsync(string name, string alias, CancellationToken ct = default)
    {
        try
        {
            return (await GetAsync<ModelVersionResponse>("registered-models/alias", new { name, alias }, ct)).ModelVersion;
        }
        catch (MlflowException e) when (e.ErrorCode == "INVALID_PARAMETER_VALUE" || e.IsNotFound)
        {
            return null;
        }
    }

    public Task<string> GetDownloadUriAsync(string name, string version, CancellationToken ct = default) =>
        GetAsync<DownloadUriResponse>("model-versions/get-download-uri", new { name, version }, ct).Then(r => r.ArtifactUri);

    public async Task<string> GetRunArtifactUriAsync(string runId, CancellationToken ct = default)
    {
        var doc = await GetAsync<JsonObject>("runs/get", new { run_id = runId }, ct);
        return doc["run"]?["info"]?["artifact_uri"]?.GetValue<string>()
            ?? throw new MlflowException(200, "INVALID_STATE", $"run {runId} has no artifact_uri", "runs/get");
    }

    public async Task<string> GetLoggedModelArtifactUriAsync(string modelId, CancellationToken ct = default)
    {
        var doc = await GetAsync<JsonObject>("logged-models/{model_id}", null, ct, modelId);
        return doc["model"]?["info"]?["artifact_uri"]?.GetValue<string>()
            ?? throw new MlflowException(200, "INVALID_STATE", $"logged model {modelId} has no artifact_uri", "logged-models");
    }

    public Task SetModelVersionTagAsync(string name, string version, string key, string value, CancellationToken ct = default) =>
        SendAsync<JsonObject>("model-versions/set-tag", HttpMethod.Post, new { name, version, key, value }, Resend.WhenTransient, ct);

    /// <summary>
    /// One file through the tracking server's artifact proxy (<c>mlflow-artifacts:/</c>); null when it does not exist.
    /// <paramref name="server"/> is the host from a <c>mlflow-artifacts://host:port/</c> URI, else the tracking server.
    /// </summary>
    public async Task<byte[]?> DownloadProxiedArtifactAsync(string path, Uri? server = null, CancellationToken ct = default)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.EscapeDataString);
        var baseUrl = (server ?? TrackingUri).ToString().TrimEnd('/');
        var url = $"{baseUrl}/api/2.0/mlflow-artifacts/artifacts/{string.Join('/', segments)}";
        using var response = await _http.Request(url).RetryWhenTransient().ForEndpoint("/api/2.0/mlflow-artifacts/artifacts/{path}")
            .GetAsync(cancellationToken: ct);
        if (response.StatusCode == 404) return null;
        if (response.StatusCode != 200) throw await ToException(response, "mlflow-artifacts");
        return await response.GetBytesAsync();
    }

    /// <param name="template">The endpoint's route template (what the metrics are tagged with), e.g. <c>logged-models/{model_id}</c>.</param>
    /// <param name="ids">The values of its placeholders, in order.</param>
    private async Task<T> GetAsync<T>(string template, object? query, CancellationToken ct, params string[] ids)
    {
        var (request, endpoint) = Request(template, ids);
        request.RetryWhenTransient();
        if (query is not null) request.SetQueryParams(query, Flurl.NullValueHandling.Remove);
        using var response = await request.GetAsync(cancellationToken: ct);
        if (response.StatusCode != 200) throw await ToException(response, endpoint);
        return await response.GetJsonAsync<T>();
    }

    /// <summary>Whether a request with a body may be sent again after a transient failure (the table above).</summary>
    private enum Resend { Never, WhenTransient }

    /// <summary>Sends <paramref name="body"/> as JSON; the answer's body as <typeparamref name="T"/>.</summary>
    private async Task<T> SendAsync<T>(string template, HttpMethod method, object body, Resend resend, CancellationToken ct, params string[] ids)
    {
        using var content = new StringContent(JsonSerializer.Serialize(body, body.GetType(), Json), System.Text.Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var (request, endpoint) = Request(template, ids);
        if (resend == Resend.WhenTransient) request.RetryWhenTransient();
        using var response = await request.SendAsync(method, content, cancellationToken: ct);
        if (response.StatusCode != 200) throw await ToException(response, endpoint);
        return await response.GetJsonAsync<T>();
    }

    /// <summary>
    /// The request to <paramref name="template"/> with each placeholder replaced, in order, by an escaped id; its metrics
    /// carry the template, so no id ever becomes a label value.
    /// </summary>
    private static readonly System.Text.RegularExpressions.Regex Placeholder = new(@"\{[^}]+\}", System.Text.RegularExpressions.RegexOptions.Compiled);

    private (IFlurlRequest Request, string Path) Request(string template, string[] ids)
    {
        var next = 0;
        var path = Placeholder.Replace(template, _ =>
            next < ids.Length ? Uri.EscapeDataString(ids[next++]) : throw new ArgumentException($"no value for a placeholder of {template}", nameof(ids)));
        if (next != ids.Length) throw new ArgumentException($"{ids.Length} values for {next} placeholders of {template}", nameof(ids));
        return (_http.Request(Api, path).ForEndpoint($"/{Api}/{template}"), path);
    }

    private static async Task<MlflowException> ToException(IFlurlResponse response, string endpoint)
    {
        var text = await response.GetStringAsync();
        try
        {
            // Proxies and auth layers may answer with HTML or plain text: keep the text then.
            var error = JsonSerializer.Deserialize<ErrorResponse>(text, Json);
            if (error?.ErrorCode is { } code)
                return new MlflowException(response.StatusCode, code, error.Message ?? "", endpoint);
        }
        catch (JsonException) { }
        return new MlflowException(response.StatusCode, $"HTTP_{response.StatusCode}", text.Length > 500 ? text[..500] : text, endpoint);
    }

    public void Dispose() => _http.Dispose();

    // ------------------------------------------------------------------ webhooks (contracts/mlflow.md §1.8)

    /// <summary>One webhook event, UPPERCASE as MLflow's REST API requires (lowercase is a 500 there).</summary>
    public sealed record WebhookEvent(string Entity, string Action)
    {
        public override string ToString() => $"{Entity}/{Action}";
    }

    /// <summary>A webhook as MLflow returns it (never with its secret).</summary>
    public sealed record Webhook
    {
        public required string WebhookId { get; init; }
        public required string Name { get; init; }
        public string? Description { get; init; }
        public string? Url { get; init; }
        public List<WebhookEvent>? Events { get; init; }
        public string? Status { get; init; }
        public long? CreationTimestamp { get; init; }
        public long? LastUpdatedTimestamp { get; init; }
    }

    /// <summary>Create or update fields. In an update, null (omitted) and empty strings leave a field unchanged.</summary>
    public sealed record WebhookFields
    {
        public string? Name { get; init; }
        public string? Url { get; init; }
        public IReadOnlyList<WebhookEvent>? Events { get; init; }
        public string? Secret { get; init; }
        public string? Description { get; init; }
        public string? Status { get; init; }
        public override string ToString() => $"WebhookFields(Name={Name}, Url={Url}, Secret={(Secret is null ? "none" : "***")})";
    }

    public sealed record WebhookTestResult
    {
        public bool Success { get; init; }
        public int? ResponseStatus { get; init; }
        public string? ResponseBody { get; init; }
        public string? ErrorMessage { get; init; }
    }

    private sealed record WebhookResponse(Webhook Webhook);
    private sealed record ListWebhooksResponse(List<Webhook>? Webhooks, string? NextPageToken);
    private sealed record TestWebhookResponse(WebhookTestResult Result);

    /// <summary><c>POST /webhooks</c>: name, url and events are required.</summary>
    public Task<Webhook> CreateWebhookAsync(WebhookFields fields, CancellationToken ct = default) =>
        SendAsync<WebhookResponse>("webhooks", HttpMethod.Post, fields, Resend.Never, ct).Then(r => r.Webhook);

    /// <summary><c>GET /webhooks</c>, all pages.</summary>
    public async Task<IReadOnlyList<Webhook>> ListWebhooksAsync(CancellationToken ct = default)
    {
        var all = new List<Webhook>();
        string? token = null;
        do
        {
            var page = await GetAsync<ListWebhooksResponse>("webhooks", new { max_results = 100, page_token = token }, ct);
            all.AddRange(page.Webhooks ?? []);
            token = page.NextPageToken;
        } while (!string.IsNullOrEmpty(token));
        return all;
    }

    /// <summary><c>PATCH /webhooks/{id}</c>: a non-empty <see cref="WebhookFields.Events"/> replaces the whole list.</summary>
    public Task<Webhook> UpdateWebhookAsync(string webhookId, WebhookFields fields, CancellationToken ct = default) =>
        SendAsync<WebhookResponse>("webhooks/{webhook_id}", HttpMethod.Patch, fields, Resend.WhenTransient, ct, webhookId).Then(r => r.Webhook);

    /// <summary><c>POST /webhooks/{id}/test</c>: MLflow delivers a canned payload synchronously and reports the receiver's answer.</summary>
    public Task<WebhookTestResult> TestWebhookAsync(string webhookId, WebhookEvent? evt = null, CancellationToken ct = default) =>
        SendAsync<TestWebhookResponse>("webhooks/{webhook_id}/test", HttpMethod.Post,
            evt is null ? new { } : new { @event = evt }, Resend.Never, ct, webhookId).Then(r => r.Result);
}

internal static class TaskExtensions
{
    public static async Task<TOut> Then<TIn, TOut>(this Task<TIn> task, Func<TIn, TOut> map) => map(await task);
}
