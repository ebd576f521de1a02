using System.Globalization;

namespace MLRay.Receiver.Webhooks;

public enum TimestampCheck { Ok, Missing, NotInteger, TooOld, TooFarInFuture }

/// <summary>
/// Replay protection on <c>X-MLflow-Timestamp</c> (contract §1.6): Unix seconds, at most <c>maxAge</c> old
/// (retries reuse the original timestamp, so this must cover MLflow's retry schedule) and at most
/// <c>maxFutureSkew</c> ahead of our clock.
/// </summary>
public static class ReplayWindow
{
    public static TimestampCheck Check(string? header, DateTimeOffset now, TimeSpan maxAge, TimeSpan maxFutureSkew)
    {
        if (string.IsNullOrEmpty(header)) return TimestampCheck.Missing;
        if (!long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            return TimestampCheck.NotInteger;
        var age = now.ToUnixTimeSeconds() - seconds;
        if (age > (long)maxAge.TotalSeconds) return TimestampCheck.TooOld;
        if (-age > (long)maxFutureSkew.TotalSeconds) return TimestampCheck.TooFarInFuture;
        return TimestampCheck.Ok;
    }
}
