using Microsoft.Extensions.DependencyInjection;
using MLRay.Http;

namespace MLRay.Bench;

/// <summary>The production HTTP clients (resilience, metrics) for the benchmark's own reads of the emulators.</summary>
internal static class BenchHttp
{
    public static readonly IHttpClientFactory Factory =
        new ServiceCollection().AddMLRayHttpClients().BuildServiceProvider().GetRequiredService<IHttpClientFactory>();
}
