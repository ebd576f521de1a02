using System.CommandLine;
using MLRay.Cli.Emulators;
using Spectre.Console;

namespace MLRay.Cli.Commands;

/// <summary>
/// <c>mlray emulators</c>: MLflow, two Ray clusters and a package index, emulated on loopback until Ctrl+C, with a ready
/// config.yml, so plan, deploy, status, the receiver and the workers have something to talk to on a laptop.
/// </summary>
public static class EmulatorsCommand
{
    public static Command Create()
    {
        var portBase = new Option<int?>("--port-base")
        {
            Description = "Listen on N (MLflow), N+1 (Ray py39), N+2 (Ray py312), N+3 (package index), N+4 and N+5 (Serve py39, py312); default 8080, 8265, 8266, 8267, 8000, 8001 as in config.example.yml",
        };
        portBase.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } p && p is < 1024 or > 65530) r.AddError("--port-base must be from 1024 to 65530");
        });
        var workingDir = new Option<string>("--working-dir") { Description = "Where config.yml and .env are written", DefaultValueFactory = _ => "mlray-emulators" };
        var buildTime = new Option<double>("--build-seconds") { Description = "How long the emulated Ray takes to build an app", DefaultValueFactory = _ => 2.0 };
        var command = new Command("emulators", "Run emulated MLflow (the seed's three models, tagged), two Ray clusters and a package index until Ctrl+C, and write a config.yml for them")
        {
            portBase, workingDir, buildTime,
        };
        command.SetAction(async (parse, ct) =>
        {
            var console = CliConsole.Create(json: false);
            var ports = parse.GetValue(portBase) is { } p ? EmulatorPorts.From(p) : EmulatorPorts.Default;
            EmulatorStack stack;
            try
            {
                stack = await EmulatorStack.StartAsync(ports, TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(buildTime), 0, 3600)), ct);
            }
            catch (PortInUseException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.ServiceError;
            }
            await using (stack)
            {
                stack.RegisterSeedModels();
                var config = Path.GetRelativePath(Environment.CurrentDirectory, await stack.WriteConfigAsync(parse.GetValue(workingDir)!, ct));
                WriteIntro(console, stack, config);
                // Until Ctrl+C or SIGTERM (a supervisor's stop): both end the wait here, and the emulators stop cleanly.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
                using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
                try { await Task.Delay(Timeout.Infinite, stop.Token); }
                catch (OperationCanceledException) { }
                console.MarkupLine("[grey]emulators stopped[/]");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static void WriteIntro(IAnsiConsole console, EmulatorStack stack, string config)
    {
        console.MarkupLine($"MLflow          [blue]{stack.Mlflow.BaseUri}[/]  (the seed's three models, tagged: iris_classifier-py39-catboost11/-py39-catboost12/-py312-catboost12 .staging)");
        console.MarkupLine($"Ray py39        [blue]{stack.RayPy39.BaseUri}[/]  (aarch64: catboost 1.1 has no wheel here); Serve [blue]{stack.RayPy39.ServeUri}[/]");
        console.MarkupLine($"Ray py312       [blue]{stack.RayPy312.BaseUri}[/]  (x86_64); Serve [blue]{stack.RayPy312.ServeUri}[/]");
        console.MarkupLine($"package index   [blue]{stack.PackageIndex.SimpleUri}[/]");
        console.MarkupLine($"config          [blue]{Markup.Escape(config)}[/] and .env beside it (the webhook secret)");
        console.WriteLine();
        console.MarkupLine("[bold]Try, in another terminal[/] (Ctrl+C here stops the emulators):");
        foreach (var line in Commands(config)) console.WriteLine(line);
    }

    /// <summary>The commands printed for a newcomer, in the order the README's Getting started runs them.</summary>
    public static IReadOnlyList<string> Commands(string config) =>
    [
        $"  mlray plan {config} ray-cluster-py39",
        $"  mlray deploy {config} ray-cluster-py39      # exit 1: catboost 1.1 is blocked by the wheel pre-flight on aarch64",
        $"  mlray deploy {config} ray-cluster-py312",
        $"  mlray status {config}",
        "  # the event pipeline (RabbitMQ on 127.0.0.1:5672: scripts/rabbitmq.sh start):",
        $"  mlray-receiver --config {config} --urls http://127.0.0.1:8090",
        $"  mlray-worker --config {config} --cluster ray-cluster-py39 --urls http://127.0.0.1:8091",
        $"  mlray-worker --config {config} --cluster ray-cluster-py312 --no-router --urls http://127.0.0.1:8092",
        $"  mlray webhook register {config} --url http://127.0.0.1:8090/webhooks/mlflow",
    ];
}
