using MLRay.Receiver.Hosting;

namespace MLRay.Tests.Receiver;

public sealed class ReceiverCommandLineTests
{
    private static string? NoEnv(string _) => null;

    [Fact]
    public void ConfigPath_FromArgumentThenEnvironmentThenDefault()
    {
        Assert.Equal("/etc/a.yml", ReceiverCommandLine.ResolveConfigPath(["--urls", "http://0.0.0.0:8090", "--config", "/etc/a.yml"], _ => "/env.yml"));
        Assert.Equal("/etc/b.yml", ReceiverCommandLine.ResolveConfigPath(["--config=/etc/b.yml"], _ => "/env.yml"));
        Assert.Equal("/config/config.yml", ReceiverCommandLine.ResolveConfigPath([], n => n == "MLRAY_CONFIG" ? "/config/config.yml" : null));
        Assert.Equal("config.yml", ReceiverCommandLine.ResolveConfigPath(["--urls", "http://127.0.0.1:0"], NoEnv));
    }

    [Fact]
    public void ConfigPath_WithoutValue_IsAConfigError()
    {
        var e = Assert.Throws<ConfigException>(() => ReceiverCommandLine.ResolveConfigPath(["--config"], NoEnv));
        Assert.Equal("--config", e.KeyPath);
        Assert.Throws<ConfigException>(() => ReceiverCommandLine.ResolveConfigPath(["--config", "--urls", "x"], NoEnv));
    }

    [Fact]
    public async Task Run_WithAMissingConfigFile_ExitsNonZero()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"mlray-missing-{Guid.NewGuid():N}.yml");
        Assert.Equal(2, await ReceiverApp.RunAsync(["--config", missing, "--urls", "http://127.0.0.1:0"]));
    }

    [Fact]
    public async Task Run_WithAnInvalidConfigFile_ExitsNonZero()
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
