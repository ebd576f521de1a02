using System.Diagnostics;
using System.Net.Http.Headers;
using MLRay.Http;

namespace MLRay.Verify;

/// <summary>
/// POSTs a serving input example to a version on a cluster's Serve proxy and judges the answer
/// (<see cref="SmokeVerdict.Judge"/>). In gateway mode the request is pinned to the version (<see cref="PinHeader"/>).
/// </summary>
public sealed class SmokeTester(IHttpClientFactory http)
{
    /// <summary>The gateway's header that sends a request to one version (docs/serving.md).</summary>
    public const string PinHeader = "mlray-version";

    public async Task<SmokeVerdict> TestAsync(Uri endpoint, ServingInput input, string? pinVersion, TimeSpan timeout, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
        {
            Content = new StringContent(input.Body!, new MediaTypeHeaderValue("application/json")),
        };
        if (pinVersion is not null) request.Headers.Add(PinHeader, pinVersion);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.CreateClient(MLRayHttpClients.Serve).SendAsync(request, timer.Token);
            var body = await response.Content.ReadAsStringAsync(timer.Token);
            return SmokeVerdict.Judge((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body, clock.Elapsed, input.Source);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return SmokeVerdict.TimedOut(timeout, input.Source);
        }
        catch (HttpRequestException e)
        {
            return SmokeVerdict.Unreachable(e.Message, input.Source);
        }
    }
}
