using MLRay.Registry;

namespace MLRay.Verify;

/// <summary>One smoke test of one model version on one cluster: its example found, sent, judged — or skipped per <c>smoke_test</c>.</summary>
public sealed class SmokeTests(ServingInputExamples examples, SmokeTester tester)
{
    public async Task<SmokeVerdict> RunAsync(ServingSettings settings, ModelVersion version, string? tagInput, Uri endpoint, string? pinVersion, CancellationToken ct = default)
    {
        var input = await examples.ReadAsync(version, tagInput, ct);
        if (input.Body is null)
            return settings.SmokeTest == SmokeTestMode.Required ? SmokeVerdict.Missing(input.Source) : SmokeVerdict.Skipped;
        return await tester.TestAsync(endpoint, input, pinVersion, settings.SmokeTestTimeout, ct);
    }
}
