using MLRay.Receiver.Webhooks;

namespace MLRay.Tests.Receiver;

public sealed class ReplayWindowTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_755_600_000);

    [Theory]
    [InlineData(null, TimestampCheck.Missing)]
    [InlineData("", TimestampCheck.Missing)]
    [InlineData("abc", TimestampCheck.NotInteger)]
    [InlineData("1755600000.5", TimestampCheck.NotInteger)]
    [InlineData(" 1755600000", TimestampCheck.NotInteger)]
    [InlineData("+1755600000", TimestampCheck.NotInteger)]
    [InlineData("1755600000000", TimestampCheck.TooFarInFuture)]                 // milliseconds, not seconds
    [InlineData("99999999999999999999999", TimestampCheck.NotInteger)]            // overflow
    [InlineData("1755600000", TimestampCheck.Ok)]
    [InlineData("1755599700", TimestampCheck.Ok)]                                 // exactly 300 s old
    [InlineData("1755599750", TimestampCheck.Ok)]                                 // 250 s old (a late retry)
    [InlineData("1755599699", TimestampCheck.TooOld)]                             // 301 s old
    [InlineData("0", TimestampCheck.TooOld)]
    [InlineData("1755600060", TimestampCheck.Ok)]                                 // 60 s ahead: clock skew allowed
    [InlineData("1755600061", TimestampCheck.TooFarInFuture)]
    [InlineData("1755600120", TimestampCheck.TooFarInFuture)]
    public void Timestamps_are_checked_against_the_replay_window(string? header, TimestampCheck expected)
    {
        Assert.Equal(expected, ReplayWindow.Check(header, Now, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(60)));
    }
}
