using System.CommandLine;
using MLRay.Pipeline;
using MLRay.ServiceDefaults;
using Serilog;

namespace MLRay.Worker.Hosting;

/// <summary>What one worker process runs.</summary>
public sealed record WorkerOptions(string ConfigPath, IReadOnlyList<string> Clusters, bool Router, string Urls);

/// <summary>
/// <c>mlray-worker --config config.yml --cluster NAME [--cluster NAME…] [--no-router] [--urls URL]</c>: the clusters'
/// queues (single active consumer: extra instances are hot standbys), the router unless <c>--no-router</c> (competing
/// consumers: every instance helps), and <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c> on <c>--urls</c>.
/// </summary>
public static class WorkerApp
{
    public const string DefaultUrls = "http://127.0.0.1:8091";

    public static WebApplication Build(WorkerOptions options, MLRayConfig config, IEnvironment env, TextWriter? logOutput = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = typeof(WorkerApp).Assembly.GetName().Name });
        builder.WebHost.UseUrls(options.Urls);
        builder.AddMLRayServiceDefaults("mlray-worker", logOutput);
        builder.Services.AddMLRayPipeline(config, env, new PipelineRoles { Router = options.Router, Clusters = options.Clusters });
        var app = builder.Build();
        app.MapMLRayDefaultEndpoints(_ => new Dictionary<string, object?> { ["clusters"] = options.Clusters, ["router"] = options.Router });
        return app;
    }

    /// <summary>
    /// 0 after a clean shutdown; 2 for argument or configuration errors and a probe address already in use, told as plain
    /// lines on stderr (<see cref="ServiceStartup"/>); 1 for any other failure, logged; logs flushed on every path.
    /// </summary>
    public static Task<int> RunAsync(string[] args)
    {
        var clusters = new Option<string[]>("--cluster")
        {
            Description = "A ray_clusters entry whose queue this process consumes (repeatable; default MLRAY_CLUSTER)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MLRAY_CLUSTER") is { Length: > 0 } c ? [c] : [],
        };
        var noRouter = new Option<bool>("--no-router") { Description = "Do not also consume the router queue" };
        var commandLine = new ServiceCommandLine("MLRay cluster worker: deploys the registry's models onto its Ray clusters", DefaultUrls,
            "mlray-worker --config config.yml --cluster NAME [--cluster NAME…] [--no-router] [--urls URL]", clusters, noRouter);
        return commandLine.InvokeAsync(args,
            (parse, ct) => RunAsync(new WorkerOptions(parse.GetValue(commandLine.Config)!, parse.GetValue(clusters)!, !parse.GetValue(noRouter),
                parse.GetValue(commandLine.Urls)!), ct),
            parse => parse.GetValue(clusters) is not { Length: > 0 } && parse.GetValue(noRouter)
                ? "nothing to do: give --cluster NAME, or drop --no-router to run only the router" : null);
    }

    private static Task<int> RunAsync(WorkerOptions options, CancellationToken ct) =>
        ServiceStartup.RunAsync("mlray-worker", options.ConfigPath, options.Urls, async startupLog =>
        {
            var env = ProcessEnvironment.WithDotEnv(Path.GetDirectoryName(Path.GetFullPath(options.ConfigPath)));
            var config = ConfigLoader.LoadFile(options.ConfigPath, env);
            await using var app = Build(options, config, env);
            startupLog.Information("MLRay worker for {Clusters} (router: {Router}) on {Broker}; probes on {Urls}",
                options.Clusters, options.Router, config.Pipeline.RedactedRabbitMqUris, options.Urls);
            await app.RunAsync(ct);
        });
}
