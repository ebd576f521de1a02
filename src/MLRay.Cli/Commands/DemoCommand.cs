using System.CommandLine;
using MLRay.Cli.Demo;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary><c>mlray demo</c>: the seed's scenario end to end — webhooks, broker, workers — on the built-in emulators.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var workingDir = new Option<string>("--working-dir") { Description = "Where the demo writes its config, secret and logs", DefaultValueFactory = _ => Path.Combine(MLRayConfig.DefaultWorkingDir, "demo") };
        // Both checked while parsing, so a bad value is an argument error (exit 2) like any other.
        var buildTime = new Option<double>("--build-seconds")
        {
            Description = "How long the emulated Ray takes to build an app",
            DefaultValueFactory = _ => 2.0,
            CustomParser = r =>
            {
                if (double.TryParse(r.Tokens.Count == 1 ? r.Tokens[0].Value : null, System.Globalization.NumberStyles.Float,
                        System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and <= 3600)
                    return seconds;
                r.AddError("--build-seconds must be a number of seconds between 0 and 3600");
                return 0;
            },
        };
        var rabbit = new Option<string>("--rabbitmq") { Description = "Broker to use when reachable (else in-memory)", DefaultValueFactory = _ => PipelineSettings.RabbitMqUriFrom(ProcessEnvironment.Instance) };
        rabbit.Validators.Add(r =>
        {
            if (!Uri.TryCreate(r.GetValueOrDefault<string>(), UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps"))
                r.AddError("--rabbitmq must be an amqp:// or amqps:// URI");
        });
        var exit = new Option<bool>("--exit") { Description = "Stop the stack as soon as the acts are done (CI), instead of leaving it up, with the ops console, until Enter" };
        var command = new Command("demo", "Register the seed's three catboost models in an emulated MLflow and watch MLRay serve them on emulated Ray clusters (py39 on ARM, py312)")
        {
            workingDir, buildTime, rabbit, exit,
        };
        command.SetAction(async (parse, ct) =>
        {
            var console = CliConsole.Create(json: false);
            // Enter, or the end of a redirected stdin, stops the stack.
            Func<CancellationToken, Task>? holdOpen = parse.GetValue(exit) ? null : async c => await System.Console.In.ReadLineAsync(c);
            var runner = new DemoRunner(console, parse.GetValue(workingDir)!, TimeSpan.FromSeconds(parse.GetValue(buildTime)), new Uri(parse.GetValue(rabbit)!), holdOpen);
            var outcome = await runner.RunAsync(ct);
            var ok = DemoRunner.WentAsExpected(outcome);
            console.MarkupLine(ok ? "[green]Demo finished as expected.[/]" : "[red]Demo did not end as expected (see above).[/]");
            return ok ? ExitCodes.Success : ExitCodes.ModelsNotRunning;
        });
        return command;
    }
}
