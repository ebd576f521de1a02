using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MLRay.Receiver.Hosting;
using MLRay.Receiver.Webhooks;

namespace MLRay.Tests.Receiver;

public sealed class ReceiverCompositionTests
{
    private static MLRayConfig Config(string? secret = "s3cret") => new()
    {
        WorkingDir = ".mlray",
        Mlflow = new MlflowSettings { TrackingUri = new Uri("http://127.0.0.1:9/"), ModelNameSuffix = ".prod" },
        Clusters = [],
        Pipeline = new PipelineSettings { WebhookSecret = secret, DedupWindow = TimeSpan.FromMinutes(3) },
    };

    private static readonly IEnvironment NoEnv = new DictionaryEnvironment(new Dictionary<string, string>());

    [Fact]
    public async Task The_real_pipeline_composition_registers_the_bus_and_a_ready_tagged_health_check()
    {
        // Built, not started: no broker needed.
        await using var app = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], Config(), NoEnv, new ReceiverHostOptions { LogOutput = new StringWriter() });
        Assert.True(app.Services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(IPublishEndpoint)));
        var checks = app.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations;
        Assert.Contains(checks, c => c.Tags.Contains("ready"));
    }

    [Fact]
    public async Task Override_services_runs_after_the_pipeline()
    {
        using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var marker = new WebhookMetrics(meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        await using var app = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], Config(), NoEnv,
            overrideServices: s => s.AddSingleton(marker));
        Assert.Same(marker, app.Services.GetRequiredService<WebhookMetrics>());
        Assert.True(app.Services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(IPublishEndpoint)));
    }

    [Fact]
    public async Task Options_come_from_the_config()
    {
        await using var app = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], Config(), NoEnv, new ReceiverHostOptions
        {
            ComposeBus = s => s.AddMassTransitTestHarness(),
            LogOutput = new StringWriter(),
        });
        var options = app.Services.GetRequiredService<IOptions<MLflowWebhookOptions>>().Value;
        Assert.Equal((".prod", "s3cret", TimeSpan.FromMinutes(3), MLflowWebhookOptions.OneMiB, TimeSpan.FromSeconds(5)),
            (options.ModelNameSuffix, options.Secret, options.DedupWindow, options.MaxBodyBytes, options.PublishTimeout));
        Assert.DoesNotContain("s3cret", options.ToString());
    }

    [Fact]
    public async Task Without_a_bus_the_build_fails()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], Config(), NoEnv,
            new ReceiverHostOptions { ComposeBus = _ => { }, LogOutput = new StringWriter() }));
        Assert.Contains("IPublishEndpoint", e.Message);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Without_a_secret_or_allow_unsigned_the_receiver_process_refuses_to_start_exit_2_naming_the_keys()
    {
        var dir = Directory.CreateTempSubdirectory("mlray-receiver-").FullName;
        try
        {
            var config = Path.Combine(dir, "config.yml");
            // The broker is never contacted: a receiver that did start would sit retrying it until the test gives up.
            await File.WriteAllTextAsync(config, """
                mlflow: {tracking_uri: 'http://127.0.0.1:9'}
                rabbitmq: {uri: 'amqp://guest:guest@127.0.0.1:1/'}
                ray_clusters:
                - {name: c1, python_version: '3.12', dashboard_address: 'http://127.0.0.1:9'}
                """);

            var (code, stdout, stderr) = await Programs.RunProgram("mlray-receiver.dll", "--config", config, "--urls", "http://127.0.0.1:0");

            Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
            // One plain line on stderr (not a JSON log event, not a stack trace), naming the file and the keys.
            Assert.Equal($"config error: {config}: receiver: no webhook secret: set receiver.webhook_secret_env or receiver.webhook_secret_file, " +
                         "or receiver.allow_unsigned: true to accept anyone's unsigned webhooks on purpose\n", stderr);
            Assert.DoesNotContain("\"@x\"", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task With_the_secrets_variable_unset_the_receiver_process_refuses_to_start_exit_2_naming_the_key_and_the_variable()
    {
        var dir = Directory.CreateTempSubdirectory("mlray-receiver-").FullName;
        try
        {
            var config = Path.Combine(dir, "config.yml");
            await File.WriteAllTextAsync(config, """
                mlflow: {tracking_uri: 'http://127.0.0.1:9'}
                rabbitmq: {uri: 'amqp://guest:guest@127.0.0.1:1/'}
                receiver:
                  webhook_secret_env: MLRAY_TEST_UNSET_WEBHOOK_SECRET
                ray_clusters:
                - {name: c1, python_version: '3.12', dashboard_address: 'http://127.0.0.1:9'}
                """);

            var (code, stdout, stderr) = await Programs.RunProgram("mlray-receiver.dll", "--config", config, "--urls", "http://127.0.0.1:0");

            Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
            Assert.Equal($"config error: {config}:4:3: receiver.webhook_secret_env: names MLRAY_TEST_UNSET_WEBHOOK_SECRET, which is not set (in the environment or .env)\n", stderr);
            Assert.DoesNotContain("config error", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Invalid_options_fail_at_start_up()
    {
        await using var app = ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], Config(secret: ""), NoEnv, new ReceiverHostOptions
        {
            ComposeBus = s => s.AddMassTransitTestHarness(),
            LogOutput = new StringWriter(),
            OverrideServices = s => s.Configure<MLflowWebhookOptions>(o => o.PublishTimeout = TimeSpan.Zero),
        });
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(e.Failures, f => f.Contains("publish timeout"));
        Assert.Contains(e.Failures, f => f.Contains("secret is empty"));
    }
}
