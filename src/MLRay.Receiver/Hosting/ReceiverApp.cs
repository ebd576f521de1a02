using MassTransit;
using Microsoft.Extensions.Options;
using MLRay.Pipeline;
using MLRay.Receiver.Console;
using MLRay.Receiver.Ops;
using MLRay.ServiceDefaults;
using MLRay.Receiver.Webhooks;
using Serilog;
using Serilog.Events;

namespace MLRay.Receiver.Hosting;

/// <summary>Composes the receiver: config → logging → bus → webhook endpoint, ops API, health, metrics.</summary>
public static class ReceiverApp
{
    /// <summary>Builds the app from an already loaded config with the real bus (<c>AddMLRayPipeline</c>), then <paramref name="overrideServices"/>.</summary>
    public static WebApplication Build(string[] args, MLRayConfig config, IEnvironment environment, Action<IServiceCollection> overrideServices) =>
        Build(args, config, environment, new ReceiverHostOptions { OverrideServices = overrideServices });

    /// <summary>
    /// Builds the app from an already loaded config (see <see cref="ReceiverHostOptions"/> for the bus, service
    /// overrides and log output). Throws <see cref="ConfigException"/> without a webhook secret unless
    /// <c>receiver.allow_unsigned</c> is true, or when a configured secret cannot be read; fails if no <see cref="IPublishEndpoint"/> ends up registered.
    /// </summary>
    public static WebApplication Build(string[] args, MLRayConfig config, IEnvironment environment, ReceiverHostOptions? options = null)
    {
        options ??= new ReceiverHostOptions();
        if (config.Pipeline.WebhookSecretSource is null && !config.Pipeline.AllowUnsignedWebhooks)
            throw new ConfigException("receiver", "no webhook secret: set receiver.webhook_secret_env or receiver.webhook_secret_file, " +
                                                  "or receiver.allow_unsigned: true to accept anyone's unsigned webhooks on purpose");
        // The receiver is what uses the secrets (loading the config does not read them): read each once, now, so an unset
        // variable or a missing file stops start-up with a ConfigException naming its key, and nothing reads them later.
        config = config with { Pipeline = config.Pipeline with { WebhookSecret = config.Pipeline.WebhookSecret, OpsToken = config.Pipeline.OpsToken } };
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(ReceiverApp).Assembly.GetName().Name,
        });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
            builder.WebHost.UseUrls(DefaultUrls);
        var logger = builder.AddMLRayServiceDefaults("mlray-receiver", options.LogOutput);
        builder.Services.AddMLflowWebhooks(config);
        builder.Services.AddDeadLetterOps(config);
        builder.Services.AddRolloutOps(config);
        builder.Services.AddOpsConsole(config);
        if (options.ComposeBus is null)
            builder.Services.AddMLRayPipeline(config, environment, new PipelineRoles { Receiver = true });
        else
            options.ComposeBus(builder.Services);
        options.OverrideServices?.Invoke(builder.Services);

        var app = builder.Build();
        if (app.Services.GetService<IServiceProviderIsService>()?.IsService(typeof(IPublishEndpoint)) != true)
            throw new InvalidOperationException("No message bus is registered (IPublishEndpoint): the receiver cannot queue webhooks.");

        app.UseSerilogRequestLogging(o =>
        {
            o.Logger = logger;
            o.GetLevel = (http, _, error) =>
                error is not null || http.Response.StatusCode >= 500 ? LogEventLevel.Warning
                // A queued or refused webhook is a decision; one answered 200 (ignored: mostly MLRay's own tag writes
                // coming back, or a duplicate delivery) is counted in mlray_webhooks_total, not logged.
                : http.Request.Path.StartsWithSegments(WebhookEndpointExtensions.Route)
                    ? (http.Response.StatusCode == StatusCodes.Status200OK ? LogEventLevel.Debug : LogEventLevel.Information)
                : http.Request.Path.StartsWithSegments(DeadLetterOpsEndpointExtensions.Route) || http.Request.Path.StartsWithSegments(RolloutOpsEndpointExtensions.Route)
                    ? LogEventLevel.Information   // ops calls are an audit trail
                : LogEventLevel.Verbose;   // probes and scrapes
        });
        // /readyz says which signature mode runs, so a receiver accepting unsigned webhooks is visible from outside.
        app.MapMLRayDefaultEndpoints(http => new Dictionary<string, object?>
        {
            ["webhook_signatures"] = http.RequestServices.GetRequiredService<IOptions<MLflowWebhookOptions>>().Value.SignatureMode,
        });
        app.MapMLflowWebhooks();
        var opsApi = app.MapDeadLetterOps(config);
        app.MapRolloutOps(config);
        var console = app.MapOpsConsole(config);

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("MLRay.Receiver");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var webhooks = app.Services.GetRequiredService<IOptions<MLflowWebhookOptions>>().Value;
            log.LogInformation(
                "Receiver listening on {Urls}; broker {RabbitMq}; models ending with {Suffix}; signature {SignatureMode}; dedup window {DedupWindow}",
                string.Join(", ", app.Urls), config.Pipeline.RedactedRabbitMqUris, config.Mlflow.ModelNameSuffix, webhooks.SignatureMode, config.Pipeline.DedupWindow);
            if (webhooks.Secret is null)
                log.LogWarning("Webhook signatures are not checked (receiver.allow_unsigned: true): anyone who can reach {Route} can trigger deploys",
                    WebhookEndpointExtensions.Route);
            var opsRoutes = $"{DeadLetterOpsEndpointExtensions.Route} and {RolloutOpsEndpointExtensions.Route}";
            if (opsApi) log.LogInformation("Ops API on {Routes} (bearer token required)", opsRoutes);
            if (console) log.LogInformation("Ops console on {Console} (log in with the ops token)", OpsConsoleExtensions.OverviewPath);
            else log.LogInformation("Ops API off: set receiver.ops_token_env or receiver.ops_token_file to serve {Routes}", opsRoutes);
        });
        return app;
    }

    /// <summary>
    /// The process entry point (<c>mlray-receiver --config config.yml --urls URL</c>): 0 after a clean shutdown; 2 for
    /// argument or configuration errors (a missing or unreadable secret included) and an address already in use, told as
    /// plain lines on stderr (<see cref="ServiceStartup"/>); 1 for any other failure, logged; logs flushed on every path.
    /// </summary>
    public static Task<int> RunAsync(string[] args)
    {
        var commandLine = new ServiceCommandLine("MLRay webhook receiver: verifies, dedups and queues MLflow registry events",
            DefaultUrls, "mlray-receiver --config config.yml [--urls URL]");
        return commandLine.InvokeAsync(args, (parse, _) => RunAsync(parse.GetValue(commandLine.Config)!, parse.GetValue(commandLine.Urls)!));
    }

    public const string DefaultUrls = "http://127.0.0.1:8090";

    private static Task<int> RunAsync(string configPath, string urls) =>
        ServiceStartup.RunAsync("mlray-receiver", configPath, urls, async _ =>
        {
            var environment = ProcessEnvironment.WithDotEnv(Path.GetDirectoryName(Path.GetFullPath(configPath)));
            await using var app = Build(["--urls", urls], ConfigLoader.LoadFile(configPath, environment), environment);
            await app.RunAsync();
        });
}

/// <summary>How <see cref="ReceiverApp.Build(string[], MLRayConfig, IEnvironment, ReceiverHostOptions?)"/> composes the app.</summary>
public sealed record ReceiverHostOptions
{
    /// <summary>
    /// Registers the message bus. Default: <c>AddMLRayPipeline(config, environment, new PipelineRoles { Receiver = true })</c>
    /// (RabbitMQ, topology, resync). Tests pass <c>s =&gt; s.AddMassTransitTestHarness()</c>.
    /// </summary>
    public Action<IServiceCollection>? ComposeBus { get; init; }
    /// <summary>Runs after every other registration, so it can replace any service (TimeProvider, IPublishEndpoint, metrics…).</summary>
    public Action<IServiceCollection>? OverrideServices { get; init; }
    /// <summary>Where the compact-JSON log goes instead of stdout.</summary>
    public TextWriter? LogOutput { get; init; }
}
