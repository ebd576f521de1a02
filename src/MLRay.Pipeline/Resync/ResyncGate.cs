namespace MLRay.Pipeline.Resync;

/// <summary>
/// Pure: whether a resync request runs. Every receiver ticks once per interval, at its own phase; the active router runs
/// one when the last one began at least 90 % of an interval ago, so two or three receivers still cost one resync per
/// interval while one receiver's slightly early tick (timer drift) is not skipped.
/// </summary>
public static class ResyncGate
{
    public static bool Runs(bool now, DateTimeOffset at, DateTimeOffset? lastBegan, TimeSpan interval) =>
        now || lastBegan is not { } last || at - last >= interval * 0.9;
}
