namespace MLRay.Receiver.Hosting;

/// <summary>Start-up arguments that are not ASP.NET's own (<c>--urls</c> is read by the host).</summary>
public static class ReceiverCommandLine
{
    public const string ConfigEnvironmentVariable = "MLRAY_CONFIG";
    public const string DefaultConfigPath = "config.yml";
    public const string DefaultUrls = "http://127.0.0.1:8090";

    /// <summary><c>--config &lt;path&gt;</c> (or <c>--config=&lt;path&gt;</c>), else <c>MLRAY_CONFIG</c>, else <c>config.yml</c>.</summary>
    public static string ResolveConfigPath(IReadOnlyList<string> args, Func<string, string?> getEnvironment)
    {
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--config")
                return i + 1 < args.Count && args[i + 1].Length > 0 && !args[i + 1].StartsWith("--", StringComparison.Ordinal)
                    ? args[i + 1]
                    : throw new ConfigException("--config", "needs a path");
            if (args[i].StartsWith("--config=", StringComparison.Ordinal))
                return args[i]["--config=".Length..] is { Length: > 0 } path ? path : throw new ConfigException("--config", "needs a path");
        }
        return getEnvironment(ConfigEnvironmentVariable) is { Length: > 0 } fromEnv ? fromEnv : DefaultConfigPath;
    }
}
