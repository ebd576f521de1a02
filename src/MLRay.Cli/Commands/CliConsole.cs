using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>The CLI's console: stderr when stdout carries JSON; wide when stdout is not a terminal.</summary>
public static class CliConsole
{
    /// <summary>
    /// Piped or redirected, Spectre assumes 80 columns: tables squeeze columns to a few characters and long lines (a printed
    /// <c>mlray dlq replay … --id …</c> command) break where a copy-paste would cut them. A pipe has no width: use a wide one.
    /// </summary>
    public const int PipedWidth = 240;

    public static IAnsiConsole Create(bool json)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(json ? Console.Error : Console.Out),
        });
        if (json ? Console.IsErrorRedirected : Console.IsOutputRedirected) console.Profile.Width = PipedWidth;
        return console;
    }
}
