using System.Net.Http.Headers;

namespace MLRay.Tests.Receiver;

/// <summary>Issue 16, "one metrics system": <c>/metrics</c> is OpenTelemetry's Prometheus exporter over the hosts' meters.</summary>
public class MetricsEndpointTests
{
    [Fact]
    public async Task Two_receivers_in_one_process_each_export_only_their_own_figures()
    {
        await using var first = await ReceiverHost.StartAsync();
        await using var second = await ReceiverHost.StartAsync();

        await first.PostAsync(MlflowTestVector.VectorBody);

        var own = await first.MetricsAsync();
        Assert.Contains("mlray_webhooks_total{outcome=\"queued\"} 1", own);
        Assert.Contains("mlray_webhook_duration_seconds_count 1", own);
        var other = await second.MetricsAsync();
        Assert.Contains("mlray_webhooks_total{outcome=\"queued\"} 0", other);
        Assert.Single(other.Split('\n'), l => l.StartsWith("mlray_webhooks_total{outcome=\"queued\"}")); // one series, not one per receiver
        Assert.DoesNotContain("mlray_webhook_duration_seconds_count 1", other);
    }

    [Fact]
    public async Task A_scraper_asking_for_openmetrics_gets_the_text_format_with_the_readme_names()
    {
        await using var host = await ReceiverHost.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse("application/openmetrics-text;version=1.0.0;q=0.9"));
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse("text/plain;version=0.0.4;q=0.5"));

        using var response = await host.Http.SendAsync(request);

        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE mlray_webhooks_total counter", text);
        Assert.Contains("# TYPE mlray_unroutable_models gauge", text);
        Assert.DoesNotContain("# EOF", text);
        Assert.DoesNotContain("otel_scope_name", text);
        Assert.DoesNotContain("target_info", text);
    }
}
