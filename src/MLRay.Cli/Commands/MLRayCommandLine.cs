using System.CommandLine;

namespace MLRay.Cli.Commands;

public static class MLRayCommandLine
{
    public static RootCommand Create() => new("MLRay: the MLflow Model Registry as the switch for Ray Serve")
    {
        DeployCommands.Deploy(),
        DeployCommands.Plan(),
        UndeployCommand.Create(),
        RenderCommands.Create(),
        DemoCommand.Create(),
        EmulatorsCommand.Create(),
        StatusCommand.Create(),
        WebhookCommands.Create(),
        DlqCommands.Create(),
        RolloutCliCommands.Create(),
    };

    /// <summary>
    /// Parses and runs <paramref name="args"/>. The one place argument errors (a missing argument, a value outside
    /// the allowed ones, an unknown command or option) are answered, for every command: the problems on stderr and
    /// exit 2, as for config errors. System.CommandLine's own answer would be the help text and exit 1.
    /// </summary>
    public static Task<int> InvokeAsync(string[] args)
    {
        var parse = Create().Parse(args);
        if (parse.Errors.Count == 0) return parse.InvokeAsync();
        CommandErrors.Report(AsksForJson(args), CommandErrors.Argument, ExitCodes.ConfigError,
            [.. parse.Errors.Select(e => new MLRay.Deploy.ServiceFailure(null, e.Message))]);
        var words = new List<string> { "mlray" };
        for (var result = parse.CommandResult; result is { Command: not RootCommand }; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            words.Insert(1, result.Command.Name);
        // System.CommandLine's "Required argument missing" does not say which one: the usage line does.
        var command = parse.CommandResult.Command;
        var usage = words.Concat(command.Arguments.Select(a => $"<{a.Name}>"))
            .Concat(command.Subcommands.Count > 0 ? ["<command>"] : Array.Empty<string>()).Append("[options]");
        Console.Error.WriteLine($"usage: {string.Join(' ', usage)}  (run '{string.Join(' ', words)} --help' for more)");
        return Task.FromResult(ExitCodes.ConfigError);
    }

    /// <summary>Whether the command line asks for JSON output, read from the words themselves (the parse failed).</summary>
    private static bool AsksForJson(string[] args) =>
        args.Zip(args.Skip(1)).Any(p => p.First is "-o" or "--output" && p.Second == "json")
        || args.Any(a => a is "--output=json" or "-o=json" or "--output:json" or "-o:json");
}
