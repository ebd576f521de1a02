namespace MLRay.Emulators.Ray;

/// <summary>
/// A fault of one model version in the emulated Serve data plane (<see cref="RayEmulatorOptions.SetPredictFault"/>): every app
/// serving that version answers with it, the direct-mode app and a gateway's version app alike.
/// A request it hits (each one with <see cref="Probability"/>) waits <see cref="Delay"/>, then gets <see cref="Status"/> with
/// <see cref="Body"/> when a status is set, else a 200 whose body is not JSON when <see cref="MalformedJson"/>, else the
/// normal answer (a pure delay). Faults hit before the request is read, as a crashed or stuck replica would.
/// </summary>
public sealed record PredictFault
{
    /// <summary>The status answered instead of the prediction (e.g. 500, as Ray's proxy answers a replica's exception).</summary>
    public int? Status { get; init; }

    /// <summary>The body with <see cref="Status"/> (or the non-JSON body of <see cref="MalformedJson"/>); null: a Python traceback
    /// for a status of 500 or more, empty below (and a truncated JSON object for <see cref="MalformedJson"/>).</summary>
    public string? Body { get; init; }

    /// <summary>The content type of <see cref="Body"/> with <see cref="Status"/>.</summary>
    public string ContentType { get; init; } = "text/plain; charset=utf-8";

    /// <summary>Real time waited before answering (a slow replica); a client or the gateway may give up first.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Answer 200 <c>application/json</c> with a body that does not parse.</summary>
    public bool MalformedJson { get; init; }

    /// <summary>The fraction of requests the fault hits, from 0 to 1 (drawn from <see cref="RayEmulatorOptions.ServeRandom"/>).</summary>
    public double Probability { get; init; } = 1.0;

    /// <summary>A failing replica: <paramref name="status"/> with <paramref name="body"/> (default: a traceback).</summary>
    public static PredictFault Error(int status = 500, string? body = null) => new() { Status = status, Body = body };

    /// <summary>A slow replica: the normal answer after <paramref name="delay"/>.</summary>
    public static PredictFault Slow(TimeSpan delay) => new() { Delay = delay };

    /// <summary>A replica that answers 200 with a body that is not JSON.</summary>
    public static PredictFault Malformed() => new() { MalformedJson = true };
}
