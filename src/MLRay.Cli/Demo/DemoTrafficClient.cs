using System.Globalization;
using System.Net.Http.Headers;

namespace MLRay.Cli.Demo;

/// <summary>What a <see cref="DemoTrafficClient"/> got: its answers by the version that gave them, and how many were not 2xx.</summary>
/// <param name="ByVersion">Answers by their <c>mlray-version</c> header (<c>?</c> when an answer has none, e.g. the gateway's own 404/503).</param>
/// <param name="Non2xx">Answers with another status than 2xx, and requests that got no answer at all.</param>
public sealed record TrafficCounts(IReadOnlyDictionary<string, int> ByVersion, int Non2xx)
{
    /// <summary>Every request sent: answered or not.</summary>
    public int Requests { get; init; }

    /// <summary>What was counted after <paramref name="earlier"/>, a snapshot of the same client.</summary>
    public TrafficCounts Since(TrafficCounts earlier) => new(
        ByVersion.Select(v => (v.Key, Count: v.Value - earlier.ByVersion.GetValueOrDefault(v.Key))).Where(v => v.Count > 0).ToDictionary(v => v.Key, v => v.Count),
        Non2xx - earlier.Non2xx) { Requests = Requests - earlier.Requests };

    /// <summary><c>v1 412 · v3 38, 0 non-2xx</c>.</summary>
    public override string ToString() =>
        (ByVersion.Count == 0 ? "no answer" : string.Join(" · ", ByVersion.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"v{v.Key} {v.Value.ToString(CultureInfo.InvariantCulture)}")))
        + $", {Non2xx.ToString(CultureInfo.InvariantCulture)} non-2xx";
}

/// <summary>
/// The third act's client: posts a model's serving input example to its route on a Serve proxy, one request after another,
/// unpinned (the gateway draws the version by weight), counting the answers by the version the gateway says gave them.
/// </summary>
public sealed class DemoTrafficClient(Uri target, string body) : IAsyncDisposable
{
    /// <summary>The gateway names the version that answered; a pin in the same header would choose it (none is sent here).</summary>
    private const string VersionHeader = "mlray-version";

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _byVersion = new(StringComparer.Ordinal);
    private int _non2xx, _requests;
    private Task? _loop;

    public Uri Target => target;

    /// <summary>A snapshot of the counts so far.</summary>
    public TrafficCounts Counts
    {
        get { lock (_gate) return new TrafficCounts(new Dictionary<string, int>(_byVersion), _non2xx) { Requests = _requests }; }
    }

    /// <summary>Sends until stopped, <paramref name="pause"/> between an answer and the next request.</summary>
    public void Start(TimeSpan pause) => _loop = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            await SendAsync();
            try { await Task.Delay(pause, _stop.Token); } catch (OperationCanceledException) { }
        }
    });

    private async Task SendAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(body, new MediaTypeHeaderValue("application/json")) };
        string? version = null;
        var ok = false;
        try
        {
            using var response = await _http.SendAsync(request, _stop.Token);
            ok = response.IsSuccessStatusCode;
            version = response.Headers.TryGetValues(VersionHeader, out var values) ? values.First() : "?";
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return; // stopped mid-request: not the server's doing
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // Refused, reset or timed out: a request lost, counted as a failure.
        }
        lock (_gate)
        {
            _requests++;
            if (version is not null) _byVersion[version] = _byVersion.GetValueOrDefault(version) + 1;
            if (!ok) _non2xx++;
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _http.Dispose();
        _stop.Dispose();
    }
}
