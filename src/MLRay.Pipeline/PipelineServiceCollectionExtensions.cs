using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Resync;
using MLRay.Pipeline.Routing;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Topology;
using MLRay.Pipeline.Workers;
using RabbitMQ.Client;

namespace MLRay.Pipeline;

public static class PipelineServiceCollectionExtensions
{
    /// <summary>
    /// Registers MLRay's clients and the MassTransit bus for the roles this process plays: the receiver publishes
    /// and resyncs, the router consumes <c>mlray.registry-changes</c>, each cluster worker consumes its own queue.
    /// </summary>
    public static IServiceCollection AddMLRayPipeline(this IServiceCollection services, MLRayConfig config, IEnvironment env, PipelineRoles roles)
    {
        foreach (var name in roles.Clusters)
            if (config.FindCluster(name) is null)
                throw new ConfigException("ray_clusters", $"no cluster named '{name}' (configured: {string.Join(", ", config.Clusters.Select(c => c.Name))})");

        services.AddSingleton(config);
        services.AddSingleton(env);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new MLRayServices(config, env, sp.GetService<ILoggerFactory>()));
        services.AddSingleton(sp => sp.GetRequiredService<MLRayServices>().Mlflow);
        services.AddSingleton(sp => sp.GetRequiredService<MLRayServices>().Registry);
        services.AddSingleton<StatusTagWriter>();
        services.AddSingleton<WorkerJournal>();
        foreach (var name in roles.Clusters)
        {
            var cluster = config.FindCluster(name)!;
            services.AddSingleton(sp => new ClusterWorker(cluster, sp.GetRequiredService<MLRayServices>().Deployer(cluster),
                sp.GetRequiredService<StatusTagWriter>(), sp.GetRequiredService<WorkerJournal>(), sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<ClusterWorker>>()));
        }
        services.AddSingleton<ClusterWorkers>();

        if (roles.InMemory)
            services.AddSingleton<IClusterDispatcher>(sp => new DirectClusterDispatcher(sp.GetRequiredService<IBus>(), config));
        else
        {
            services.AddSingleton<IClusterDispatcher>(sp => new TopicClusterDispatcher(sp.GetRequiredService<IBus>()));
            // Registered before the bus so queues and bindings exist before anything is published.
            services.AddHostedService<TopologyDeclarer>();
        }

        if (roles.Receiver)
        {
            services.AddSingleton(sp => new ResyncService(sp.GetRequiredService<Registry.MlflowClient>(), config,
                sp.GetRequiredService<IBus>(), sp.GetRequiredService<IClusterDispatcher>(), sp.GetRequiredService<ILogger<ResyncService>>()));
            services.AddHostedService(sp => sp.GetRequiredService<ResyncService>());
        }

        services.AddMassTransit(x =>
        {
            if (roles.Router) x.AddConsumer<RegistryChangedConsumer>();
            if (roles.Clusters.Count > 0)
                x.AddConsumer<ClusterDeployRequestedConsumer>(c => c.Options<BatchOptions>(o => o
                    .SetMessageLimit(100)
                    .SetTimeLimit(TimeSpan.FromMilliseconds(200))
                    .SetConcurrencyLimit(1)));

            if (roles.InMemory)
                x.UsingInMemory((ctx, cfg) =>
                {
                    if (roles.Router)
                        cfg.ReceiveEndpoint(PipelineTopology.RegistryChangesQueue, e =>
                        {
                            e.UseMessageRetry(RouterRetry);
                            e.ConfigureConsumer<RegistryChangedConsumer>(ctx);
                        });
                    foreach (var name in roles.Clusters)
                        cfg.ReceiveEndpoint(PipelineTopology.ClusterQueue(name), e =>
                        {
                            e.ConfigureConsumeTopology = false;
                            e.UseMessageRetry(WorkerRetry);
                            e.ConfigureConsumer<ClusterDeployRequestedConsumer>(ctx);
                        });
                });
            else
                x.UsingRabbitMq((ctx, cfg) =>
                {
                    var broker = RabbitMqEndpoint.Parse(config.Pipeline.RabbitMqUri);
                    cfg.Host(broker.Host, (ushort)broker.Port, broker.VirtualHost, h =>
                    {
                        h.Username(broker.Username);
                        h.Password(broker.Password);
                        if (broker.Tls) h.UseSsl(s => s.ServerName = broker.Host);
                    });
                    // Error and dead-letter queues copy their endpoint's queue arguments; with single active consumer
                    // the management UI and API refuse to show their messages (405 RESOURCE_LOCKED).
                    cfg.SendTopology.ConfigureErrorSettings = q => q.SetQueueArgument(TopologyDeclarer.SingleActiveConsumerArgument, null);
                    cfg.SendTopology.ConfigureDeadLetterSettings = q => q.SetQueueArgument(TopologyDeclarer.SingleActiveConsumerArgument, null);
                    cfg.Message<RegistryChanged>(m => m.SetEntityName(PipelineTopology.RegistryChangedExchange));
                    cfg.Message<ModelUnroutable>(m => m.SetEntityName(PipelineTopology.UnroutableExchange));
                    cfg.Message<ClusterDeployRequested>(m => m.SetEntityName(PipelineTopology.DeployExchange));
                    cfg.Publish<ClusterDeployRequested>(p => p.ExchangeType = ExchangeType.Topic);
                    cfg.Send<ClusterDeployRequested>(s => s.UseRoutingKeyFormatter(c => c.Message.RoutingKey));

                    if (roles.Router)
                        cfg.ReceiveEndpoint(PipelineTopology.RegistryChangesQueue, e =>
                        {
                            e.SetQuorumQueue();
                            e.ConfigureConsumeTopology = false;
                            e.UseMessageRetry(RouterRetry);
                            e.ConfigureConsumer<RegistryChangedConsumer>(ctx);
                        });
                    foreach (var name in roles.Clusters)
                        cfg.ReceiveEndpoint(PipelineTopology.ClusterQueue(name), e =>
                        {
                            e.SetQuorumQueue();
                            e.SingleActiveConsumer = true;
                            e.ConfigureConsumeTopology = false;
                            e.PrefetchCount = 200;
                            e.UseMessageRetry(WorkerRetry);
                            e.ConfigureConsumer<ClusterDeployRequestedConsumer>(ctx);
                        });
                });
        });
        return services;
    }

    // In-process retries hold the message unacked, so keep them short; what still fails goes to <queue>_error
    // with MassTransit's MT-Fault-* headers (the dead letter), and the next resync tries again.
    private static void RouterRetry(IRetryConfigurator r) =>
        r.Exponential(5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500));

    private static void WorkerRetry(IRetryConfigurator r) =>
        r.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
}
