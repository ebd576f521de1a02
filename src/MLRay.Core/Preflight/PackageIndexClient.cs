using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace MLRay.Preflight;

/// <summary>
/// Reads project pages from a Simple API index (contracts/pypi.md §1): PEP 691 JSON asked for first, PEP 503 HTML accepted
/// as the fallback (chosen by <c>Content-Type</c>), redirects followed (PyPI's 301 to the normalised name), 404 as an
/// unknown project. At most <c>max_concurrency</c> requests at once; each project's answer is cached for <c>cache_ttl</c>
/// (a failure for at most 30 s). 5xx, timeouts, refused connections and unreadable pages are "unreachable": the
/// verdict is then unknown, never no.
/// </summary>
public sealed class PackageIndexClient : IDisposable
{
    private static readonly TimeSpan FailureTtl = TimeSpan.FromSeconds(30);
    /// <summary>The metrics' endpoint of a project page: relative to <c>package_index</c>, whatever its path.</summary>
    public const string ProjectEndpoint = "{index}/{project}/";
    private readonly PackageIndexSettings _settings;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _gate;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, (DateTimeOffset Expires, Task<IndexAnswer> Answer)> _cache = new(StringComparer.Ordinal);

    private readonly AuthenticationHeaderValue? _authorization;

    /// <param name="http">The process's factory (<see cref="Http.MLRayHttpClients.AddMLRayHttpClients"/>): its handlers and telemetry.</param>
    public PackageIndexClient(PackageIndexSettings settings, IHttpClientFactory http, TimeProvider? time = null)
    {
        _settings = settings;
        _time = time ?? TimeProvider.System;
        _gate = new SemaphoreSlim(settings.MaxConcurrency);
        _http = http.CreateClient(Http.MLRayHttpClients.PackageIndex);
        if (settings.Password is not null || settings.Username is not null)
            _authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.Username ?? ""}:{settings.Password ?? ""}")));
    }

    public Uri Url => _settings.Url;

    /// <summary>The project's page (<paramref name="project"/> normalised), from the cache while it is fresh.</summary>
    public Task<IndexAnswer> GetProjectAsync(string project, CancellationToken ct = default)
    {
        var now = _time.GetUtcNow();
        while (true)
        {
            if (_cache.TryGetValue(project, out var entry) && (entry.Expires > now || !entry.Answer.IsCompleted))
                return entry.Answer.WaitAsync(ct);
            // Shared by every caller until it expires, so not cancelled by the first one's token (the timeout bounds it).
            var fetch = FetchAsync(project, CancellationToken.None);
            var fresh = (Expires: now + _settings.CacheTtl, Answer: fetch);
            if (entry.Answer is null ? _cache.TryAdd(project, fresh) : _cache.TryUpdate(project, fresh, entry))
            {
                _ = fetch.ContinueWith(t =>
                {
                    if (!t.IsCompletedSuccessfully) _cache.TryRemove(KeyValuePair.Create(project, fresh));
                    else if (t.Result.Page is null) _cache.TryUpdate(project, (now + FailureTtl, fetch), fresh);
                }, TaskScheduler.Default);
                return fetch.WaitAsync(ct);
            }
        }
    }

    private async Task<IndexAnswer> FetchAsync(string project, CancellationToken ct)
    {
        var url = new Uri(_settings.Url, Uri.EscapeDataString(project) + "/");
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var request = Http.HttpMetricsHandler.ForEndpoint(new HttpRequestMessage(HttpMethod.Get, url), ProjectEndpoint);
            request.Headers.Accept.ParseAdd(ProjectPage.AcceptHeader);
            request.Headers.UserAgent.ParseAdd("mlray-preflight/1.0");
            request.Headers.Authorization = _authorization;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_settings.Timeout);
            using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound) return IndexAnswer.Of(ProjectPage.NotFound(project));
            if (!response.IsSuccessStatusCode)
                return IndexAnswer.Unreachable($"the package index answered {url} with {(int)response.StatusCode} {response.ReasonPhrase}");
            var body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            return IndexAnswer.Of(ProjectPage.Parse(project, response.Content.Headers.ContentType?.ToString(), body,
                response.RequestMessage?.RequestUri ?? url));
        }
        catch (IndexFormatException e)
        {
            return IndexAnswer.Unreachable(e.Message);
        }
        catch (HttpRequestException e)
        {
            return IndexAnswer.Unreachable($"the package index could not be reached at {url}: {e.Message}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return IndexAnswer.Unreachable($"the package index did not answer {url} within {_settings.Timeout.TotalSeconds:0.#}s");
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _gate.Dispose();
    }
}
