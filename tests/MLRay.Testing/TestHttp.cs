namespace MLRay.Testing;

/// <summary>The production HTTP clients (resilience, metrics) for a test's own clients of the emulators.</summary>
internal static class TestHttp
{
    public static readonly IHttpClientFactory Factory = MLRay.Http.MLRayHttpClients.NewFactory();
}
