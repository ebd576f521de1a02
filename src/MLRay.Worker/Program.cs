using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MLRay.Configuration;
using MLRay.Pipeline;
using Serilog;
using Serilog.Formatting.Compact;

// mlray-worker --config config.yml --cluster ray-cluster-py39 [--cluster …] [--no-router]
// Consumes the named clusters' queues (single active consumer: extra instances are hot standbys) and, unless
// --no-router, the router queue too (competing consumers: every instance helps).
var options = WorkerArguments.Parse(args);
Log.Logger = new LoggerConfiguration().Enrich.FromLogContext().WriteTo.Console(new CompactJsonFormatter()).CreateLogger();
try
{
    var env = ProcessEnvironment.WithDotEnv(Path.GetDirectoryName(Path.GetFullPath(options.ConfigPath)));
    var config = ConfigLoader.LoadFile(options.ConfigPath, env);
    var builder = Host.CreateApplicationBuilder();
    builder.Services.AddSerilog();
    builder.Services.AddMLRayPipeline(config, env, new PipelineRoles { Router = options.Router, Clusters = options.Clusters });
    Log.Information("MLRay worker for {Clusters} (router: {Router}) on {Broker}", options.Clusters, options.Router, config.Pipeline.RedactedRabbitMqUri);
    await builder.Build().RunAsync();
    return 0;
}
catch (ConfigException e)
{
    Log.Fatal("config error: {Error}", e.Message);
    return 2;
}
finally
{
    await Log.CloseAndFlushAsync();
}

internal sealed record WorkerArguments(string ConfigPath, IReadOnlyList<string> Clusters, bool Router)
{
    public static WorkerArguments Parse(string[] args)
    {
        var config = Environment.GetEnvironmentVariable("MLRAY_CONFIG") ?? "config.yml";
        var clusters = new List<string>();
        var router = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" when i + 1 < args.Length: config = args[++i]; break;
                case "--cluster" when i + 1 < args.Length: clusters.Add(args[++i]); break;
                case "--no-router": router = false; break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'. Usage: mlray-worker --config config.yml --cluster NAME [--cluster NAME…] [--no-router]");
                    Environment.Exit(2);
                    break;
            }
        }
        if (clusters.Count == 0 && Environment.GetEnvironmentVariable("MLRAY_CLUSTER") is { Length: > 0 } fromEnv) clusters.Add(fromEnv);
        return new WorkerArguments(config, clusters, router);
    }
}
