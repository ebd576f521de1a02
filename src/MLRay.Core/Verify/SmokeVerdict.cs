using System.Globalization;

namespace MLRay.Verify;

public enum SmokeOutcome
{
    Passed,
    Failed,
    /// <summary>No example and <c>smoke_test: when-example</c>: the version runs untested.</summary>
    Skipped,
    /// <summary>No example and <c>smoke_test: required</c>: retrying cannot help.</summary>
    MissingExample,
}

/// <summary>
/// What a smoke test found, in the words of the <c>mlray.&lt;cluster&gt;.smoke_test</c> tag: <c>passed 41 ms</c>,
/// <c>failed: HTTP 500 …</c>, <c>skipped: no serving input example</c>. Pure: the judging of an answer lives here.
/// </summary>
public sealed record SmokeVerdict(SmokeOutcome Outcome, string Text)
{
    /// <summary>How much of a failing answer's body the verdict (and so the tag and the dead letter) keeps.</summary>
    public const int BodyStart = 300;

    public bool LetsThrough => Outcome is SmokeOutcome.Passed or SmokeOutcome.Skipped;

    public static SmokeVerdict Skipped { get; } = new(SmokeOutcome.Skipped, "skipped: no serving input example");

    public static SmokeVerdict Missing(string file) => new(SmokeOutcome.MissingExample,
        $"failed: no serving input example ({file}, where MLmodel's saved_input_example_info points or MLflow's default name, is not among " +
        $"the model's artifacts, and there is no tag {Models.DeploymentTags.SmokeTestInput}) and smoke_test is required");

    /// <summary>Pass = HTTP 200 and a JSON object with <c>predictions</c> (contracts/mlflow.md §5).</summary>
    public static SmokeVerdict Judge(int status, string? mediaType, string body, TimeSpan elapsed, string sent)
    {
        if (status != 200) return Failed($"HTTP {status} {Start(body)}", sent);
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("predictions", out _))
                return new SmokeVerdict(SmokeOutcome.Passed, $"passed {Math.Round(elapsed.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)} ms");
            return Failed($"HTTP 200 without \"predictions\": {Start(body)}", sent);
        }
        catch (JsonException)
        {
            return Failed($"HTTP 200 with a body that is not JSON ({mediaType ?? "no content type"}): {Start(body)}", sent);
        }
    }

    public static SmokeVerdict TimedOut(TimeSpan timeout, string sent) =>
        Failed($"no answer within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (smoke_test_timeout)", sent);

    public static SmokeVerdict Unreachable(string problem, string sent) => Failed($"the Serve proxy could not be reached: {problem}", sent);

    private static SmokeVerdict Failed(string why, string sent) => new(SmokeOutcome.Failed, $"failed: {why} (sent {sent})");

    private static string Start(string body)
    {
        var flat = body.ReplaceLineEndings(" ").Trim();
        return flat.Length <= BodyStart ? flat : flat[..BodyStart] + "…";
    }
}
