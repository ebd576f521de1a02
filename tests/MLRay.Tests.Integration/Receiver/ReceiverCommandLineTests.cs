using MLRay.Receiver.Hosting;

namespace MLRay.Tests.Receiver;

public sealed class ReceiverCommandLineTests
{
    [Theory]
    [InlineData("--config")]
    [InlineData("--bogus")]
    [InlineData("--urls")]
    public async Task Argument_errors_exit_2_before_anything_starts(string argument)
    {
        Assert.Equal(2, await ReceiverApp.RunAsync([argument]));
    }

    [Fact]
    public async Task Run_with_a_missing_config_file_exits_non_zero()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"mlray-missing-{Guid.NewGuid():N}.yml");
        Assert.Equal(2, await ReceiverApp.RunAsync(["--config", missing, "--urls", "http://127.0.0.1:0"]));
    }

    [Fact]
    public async Task Run_with_an_invalid_config_file_exits_non_zero()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mlray-invalid-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(path, "receiver:\n  dedup_window: soon\n");
        try
        {
            Assert.Equal(2, await ReceiverApp.RunAsync(["--config", path, "--urls", "http://127.0.0.1:0"]));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
