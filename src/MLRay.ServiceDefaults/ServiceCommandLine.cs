using System.CommandLine;

namespace MLRay.ServiceDefaults;

/// <summary>
/// The command line every MLRay service host takes, on System.CommandLine: <c>--config</c> (default <c>MLRAY_CONFIG</c>,
/// else <c>config.yml</c>) and <c>--urls</c>, plus the host's own options; <c>--help</c>; an argument error prints the
/// problem and a usage line and exits 2, before anything starts.
/// </summary>
public sealed class ServiceCommandLine
{
    public const int ArgumentError = 2;
    public const string ConfigEnvironmentVariable = "MLRAY_CONFIG";
    public const string DefaultConfigPath = "config.yml";

    public Option<string> Config { get; } = new("--config")
    {
        Description = $"Path to config.yml (default: {ConfigEnvironmentVariable}, else {DefaultConfigPath})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ConfigEnvironmentVariable) is { Length: > 0 } path ? path : DefaultConfigPath,
    };

    public Option<string> Urls { get; }
    public RootCommand Root { get; }
    private readonly string _usage;

    public ServiceCommandLine(string description, string defaultUrls, string usage, params Option[] options)
    {
        Urls = new Option<string>("--urls") { Description = $"Where the host listens (default {defaultUrls})", DefaultValueFactory = _ => defaultUrls };
        Root = new RootCommand(description) { Config, Urls };
        foreach (var option in options) Root.Options.Add(option);
        _usage = usage;
    }

    /// <summary>Parses; on an argument error (or one <paramref name="check"/> finds) prints it with the usage line and returns 2.</summary>
    public async Task<int> InvokeAsync(string[] args, Func<ParseResult, CancellationToken, Task<int>> run, Func<ParseResult, string?>? check = null)
    {
        var parsed = Root.Parse(args);
        var errors = parsed.Errors.Select(e => e.Message).ToList();
        if (errors.Count == 0 && check?.Invoke(parsed) is { } problem) errors.Add(problem);
        if (errors.Count > 0)
        {
            foreach (var error in errors) Console.Error.WriteLine($"argument error: {error}");
            Console.Error.WriteLine($"usage: {_usage}");
            return ArgumentError;
        }
        Root.SetAction(run);
        return await parsed.InvokeAsync();
    }
}
