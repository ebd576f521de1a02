using System.CommandLine;
using MLRay.Cli.Demo;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary><c>mlray demo</c>: the seed's scenario end to end on the built-in MLflow and Ray emulators.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var workingDir = new Option<string>("--working-dir") { Description = "Where the demo writes its config and Serve configs", DefaultValueFactory = _ => Path.Combine(".mlray", "demo") };
        var buildTime = new Option<double>("--build-seconds") { Description = "How long the emulated Ray takes to build an app", DefaultValueFactory = _ => 2.0 };
        var command = new Command("demo", "Run the seed's three catboost models through MLRay on emulated MLflow and Ray clusters (py39 on ARM, py312)")
        {
            workingDir, buildTime,
        };
        command.SetAction(async (parse, ct) =>
        {
            var runner = new DemoRunner(AnsiConsole.Console, parse.GetValue(workingDir)!, TimeSpan.FromSeconds(parse.GetValue(buildTime)));
            var reports = await runner.RunAsync(ct);
            var ok = DemoRunner.WentAsExpected(reports);
            AnsiConsole.MarkupLine(ok ? "[green]Demo finished as expected.[/]" : "[red]Demo did not end as expected (see above).[/]");
            return ok ? ExitCodes.Success : ExitCodes.ModelsNotRunning;
        });
        return command;
    }
}
