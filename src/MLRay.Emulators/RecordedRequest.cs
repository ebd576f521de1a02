namespace MLRay.Emulators;

/// <summary>One HTTP request as an emulator saw it.</summary>
/// <param name="Method">HTTP method, upper case.</param>
/// <param name="Path">Full request path, e.g. <c>/api/2.0/mlflow/model-versions/get</c>.</param>
/// <param name="Query">Raw query string without the leading <c>?</c> (empty when none).</param>
/// <param name="Body">Request body decoded as UTF-8 (empty when none).</param>
/// <param name="Headers">Request headers (case-insensitive keys; repeated values joined with ", ").</param>
/// <param name="Status">HTTP status the emulator returned (0 when the connection was dropped on purpose).</param>
public sealed record RecordedRequest(
    string Method,
    string Path,
    string Query,
    string Body,
    IReadOnlyDictionary<string, string> Headers,
    int Status)
{
    /// <summary>When the request arrived.</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>When the emulator answered it (its response started) or gave up on it (dropped, aborted).</summary>
    public DateTimeOffset AnsweredAt { get; init; }
}
