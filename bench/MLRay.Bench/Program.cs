using System.CommandLine;
using MLRay.Configuration;

namespace MLRay.Bench;

/// <summary><c>mlray-bench</c>: the figures the README quotes, measured on the emulators over loopback (not a test).</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var models = new Option<int[]>("--models") { Description = "Registry sizes for the reconcile scenario", DefaultValueFactory = _ => [200, 2000], AllowMultipleArgumentsPerToken = true };
        var burst = new Option<int>("--burst") { Description = "Registrations in the burst scenario", DefaultValueFactory = _ => 200 };
        var rabbitmq = new Option<string>("--rabbitmq")
        {
            Description = "AMQP URI of a broker whose management API (port 15672) may create a throw-away vhost",
            DefaultValueFactory = _ => PipelineSettings.RabbitMqUriFrom(ProcessEnvironment.Instance),
        };

        var scaleModels = new Option<int>("--models") { Description = "Registered models in the scale scenario", DefaultValueFactory = _ => 10_000 };
        var clusters = new Option<int>("--clusters") { Description = "Ray clusters (one Python each: 3.9, 3.10, …) in the scale scenario", DefaultValueFactory = _ => 4 };
        var concurrency = new Option<int[]>("--senders") { Description = "Concurrent senders in the ingest scenario", DefaultValueFactory = _ => [1, 16, 64], AllowMultipleArgumentsPerToken = true };
        var duration = new Option<double>("--seconds") { Description = "Seconds per ingest run (each side, each concurrency)", DefaultValueFactory = _ => 5 };
        var pipelineWebhooks = new Option<int>("--pipeline-webhooks") { Description = "Webhooks sent while a worker routes and deploys", DefaultValueFactory = _ => 2000 };
        IngestBenchmark.Settings Ingest(ParseResult parse) =>
            new(parse.GetValue(concurrency)!, TimeSpan.FromSeconds(parse.GetValue(duration)), parse.GetValue(pipelineWebhooks));

        var reconcile = new Command("reconcile", "Cold and warm reconcile of registries of each size: time, MLflow requests by endpoint, downloads") { models };
        reconcile.SetAction(async (parse, ct) =>
        {
            await ReconcileBenchmark.RunAsync(parse.GetValue(models)!, Console.Out, ct);
            return 0;
        });
        var burstCommand = new Command("burst", "Registrations through MLflow's webhooks, the receiver, RabbitMQ and one worker") { burst, rabbitmq };
        burstCommand.SetAction(async (parse, ct) =>
        {
            await BurstBenchmark.RunAsync(parse.GetValue(burst), new Uri(parse.GetValue(rabbitmq)!), Console.Out, ct);
            return 0;
        });
        var ingest = new Command("ingest", "Signed webhooks/s into an mlray-receiver process vs a bare RabbitMQ.Client publisher; RSS; the pipeline under a burst")
            { concurrency, duration, pipelineWebhooks, rabbitmq };
        ingest.SetAction(async (parse, ct) =>
        {
            await IngestBenchmark.RunAsync(Ingest(parse), new Uri(parse.GetValue(rabbitmq)!), Console.Out, ct);
            return 0;
        });
        var scale = new Command("scale", "Issue 18: N models over C clusters by Python, real receiver and worker processes: cold start, warm reconciles, a resync, one registration, RSS")
            { scaleModels, clusters, rabbitmq };
        scale.SetAction(async (parse, ct) =>
        {
            await ScaleBenchmark.RunAsync(new ScaleBenchmark.Settings(parse.GetValue(scaleModels), parse.GetValue(clusters)), new Uri(parse.GetValue(rabbitmq)!), Console.Out, ct);
            return 0;
        });
        var root = new RootCommand("MLRay benchmarks: prints the tables the README quotes")
            { reconcile, burstCommand, ingest, scale, models, burst, concurrency, duration, pipelineWebhooks, rabbitmq };
        root.SetAction(async (parse, ct) =>
        {
            await ReconcileBenchmark.RunAsync(parse.GetValue(models)!, Console.Out, ct);
            await BurstBenchmark.RunAsync(parse.GetValue(burst), new Uri(parse.GetValue(rabbitmq)!), Console.Out, ct);
            await IngestBenchmark.RunAsync(Ingest(parse), new Uri(parse.GetValue(rabbitmq)!), Console.Out, ct);
            return 0;
        });
        return await root.Parse(args).InvokeAsync();
    }
}
