using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using MLRay.Deploy;
using MLRay.Http;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Publishing;
using MLRay.Pipeline.Resync;
using MLRay.Pipeline.Routing;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Topology;
using MLRay.Pipeline.Workers;
using RabbitMQ.Client;

namespace MLRay.Pipeline;

public static class PipelineServiceCollectionExtensions
{

    /// <summary>Everything the roles of this process need: clients, its cluster workers, and the bus.</summary>
    public static IServiceCollection AddMLRayPipeline(this IServiceCollection services, MLRayConfig config, IEnvironment env, PipelineRoles roles) =>
        services.AddMLRayClients(config, env).AddClusterWorkers(config, roles.Clusters).AddMLRayBus(config, roles);

    /// <summary>The deploy core (<see cref="MLRayCoreServiceCollectionExtensions.AddMLRayCore"/>), status tags and the workers' journal.</summary>
    public static IServiceCollection AddMLRayClients(this IServiceCollection services, MLRayConfig config, IEnvironment env)
    {
        services.AddMLRayCore(config, env);
        services.AddSingleton<StatusTagWriter>();
        services.AddSingleton<WorkerJournal>();
        return services;
    }

    /// <summary>One <see cref="ClusterWorker"/> per cluster this process consumes, around that cluster's reconciler.</summary>
    public static IServiceCollection AddClusterWorkers(this IServiceCollection services, MLRayConfig config, IReadOnlyList<string> clusters)
    {
        foreach (var name in clusters)
        {
            var cluster = config.GetCluster(name);
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ClusterWorker>(sp, sp.GetRequiredKeyedService<ClusterReconciler>(cluster.Name)));
        }
        services.AddSingleton<ClusterWorkers>();
        return services;
    }

    /// <summary>
    /// The MassTransit bus on RabbitMQ (or in memory for the demo): the router's and the cluster workers' endpoints, set up
    /// the same way on both transports (their retry and batching live in their consumer definitions), the broker-held
    /// wake-ups and the dead letters, the topology declared before anything publishes, and the receiver's resync.
    /// </summary>
    public static IServiceCollection AddMLRayBus(this IServiceCollection services, MLRayConfig config, PipelineRoles roles)
    {
        services.AddSingleton<ResyncClock>();
        services.TryAddSingleton<ActivityLog>();
        // Workers report each reconcile; receivers keep the last ones for the ops console.
        if (roles.Clusters.Count > 0) services.AddHostedService<ActivityReporter>();
        services.AddSingleton<RegistryCensus>();
        if (roles.InMemory)
        {
            services.AddSingleton<IClusterDispatcher>(sp => new DirectClusterDispatcher(sp.GetRequiredService<IBus>(), config));
            services.AddSingleton<IUnroutableModels>(sp => new InProcessUnroutableModels(sp.GetRequiredService<IClusterDispatcher>()));
            services.AddSingleton<IWakeUps>(sp => new InProcessWakeUps(sp.GetRequiredService<IBus>()));
            services.AddSingleton<IDeadLetters>(sp => new InProcessDeadLetters(sp.GetRequiredService<IBus>()));
        }
        else
        {
            services.AddSingleton<IClusterDispatcher>(sp => new TopicClusterDispatcher(sp.GetRequiredService<IBus>()));
            services.AddSingleton<IWakeUps>(sp => new BrokerWakeUps(sp.GetRequiredService<IBus>(), config));
            services.TryAddSingleton(_ => new DeadLetterStore(RabbitMqEndpoint.For(config.Pipeline)));
            services.AddSingleton<IDeadLetters>(sp => new BrokerDeadLetters(sp.GetRequiredService<IBus>(), sp.GetRequiredService<DeadLetterStore>()));
            services.AddSingleton<IUnroutableModels>(sp => new BrokerUnroutableModels(sp.GetRequiredService<DeadLetterStore>(), sp.GetRequiredService<IClusterDispatcher>()));
            // One group size per quorum queue for both declarers (this process's and MassTransit's).
            services.TryAddSingleton(_ => new QueueReplication(RabbitMqEndpoint.For(config.Pipeline).QuorumGroupSize));
            // Registered before the bus so queues and bindings exist before anything is published.
            services.AddSingleton<TopologyDeclarer>();
            services.AddHostedService(sp => sp.GetRequiredService<TopologyDeclarer>());
            // ...and declared again by whichever process meets them missing (a probe or a publish answered NOT_FOUND).
            services.AddSingleton<TopologyRepair>();
            services.AddSingleton<BrokerHealthCheck>();
            services.AddHealthChecks().AddCheck<BrokerHealthCheck>("broker", tags: [MLRay.Telemetry.HealthTags.Ready]);
            // A graceful stop hands its clusters to the standby instead of reconciling alongside it.
            if (roles.Clusters.Count > 0) services.AddHostedService<ClusterHandover>();
        }

        if (roles.Receiver)
        {
            if (!roles.InMemory)
            {
                // The webhook hot path publishes with RabbitMQ.Client (after the topology declarer, which starts first).
                services.AddSingleton<ConfirmedRegistryChangedPublisher>();
                services.AddSingleton<IRegistryChangedPublisher>(sp => sp.GetRequiredService<ConfirmedRegistryChangedPublisher>());
                services.AddHostedService(sp => sp.GetRequiredService<ConfirmedRegistryChangedPublisher>());
            }
            services.AddSingleton(sp => new ResyncService(sp.GetRequiredService<IBus>(), config, sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<ResyncService>>(), sp.GetRequiredService<IHostApplicationLifetime>()));
            services.AddHostedService(sp => sp.GetRequiredService<ResyncService>());
        }

        services.AddMassTransit(x =>
        {
            // MassTransit 8.4+ posts usage telemetry to its vendor after start-up: MLRay's processes talk only to the broker,
            // MLflow, Ray and the package index (and, offline, the failed post logged a stack trace at Warning).
            x.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
            if (roles.Router) x.AddConsumer<RegistryChangedConsumer, RegistryChangedConsumerDefinition>();
            if (roles.Router) x.AddConsumer<ResyncRequestedConsumer, ResyncRequestedConsumerDefinition>();
            if (roles.Clusters.Count > 0) x.AddConsumer<ClusterDeployRequestedConsumer, ClusterDeployRequestedConsumerDefinition>();
            if (roles.Receiver) x.AddConsumer<ReconcileReportedConsumer>();

            // transport(endpoint, its queue, single active consumer, sent to the queue by name rather than published)
            void Endpoints(IBusRegistrationContext ctx, IReceiveConfigurator cfg, Action<IReceiveEndpointConfigurator, string, bool, bool> transport)
            {
                if (roles.Router)
                    cfg.ReceiveEndpoint(PipelineTopology.RegistryChangesQueue, e =>
                    {
                        transport(e, PipelineTopology.RegistryChangesQueue, false, false);
                        e.ConfigureConsumer<RegistryChangedConsumer>(ctx);
                    });
                if (roles.Router)
                    cfg.ReceiveEndpoint(PipelineTopology.ResyncQueue, e =>
                    {
                        transport(e, PipelineTopology.ResyncQueue, true, false);
                        e.ConfigureConsumer<ResyncRequestedConsumer>(ctx);
                    });
                // A temporary queue per receiver (auto-deleted with its connection) bound to mlray.activity: a copy of each report.
                if (roles.Receiver)
                    cfg.ReceiveEndpoint(new TemporaryEndpointDefinition("activity"), DefaultEndpointNameFormatter.Instance,
                        e => e.ConfigureConsumer<ReconcileReportedConsumer>(ctx));
                foreach (var name in roles.Clusters)
                    cfg.ReceiveEndpoint(PipelineTopology.ClusterQueue(name), e =>
                    {
                        transport(e, PipelineTopology.ClusterQueue(name), true, true);
                        e.ConfigureConsumer<ClusterDeployRequestedConsumer>(ctx);
                    });
            }

            if (roles.InMemory)
                // In memory, published RegistryChanged reaches the router through its consume topology; cluster queues get sends.
                x.UsingInMemory((ctx, cfg) => Endpoints(ctx, cfg, (e, _, _, sentByName) => e.ConfigureConsumeTopology = !sentByName));
            else
                x.UsingRabbitMq((ctx, cfg) =>
                {
                    var broker = RabbitMqEndpoint.For(config.Pipeline);
                    cfg.Host(broker.Host, (ushort)broker.Port, broker.VirtualHost, h =>
                    {
                        h.Username(broker.Username);
                        h.Password(broker.Password);
                        if (broker.Tls) h.UseSsl(s => s.ServerName = broker.Host);
                        // Every node, tried in turn when a connection is lost (MassTransit's resolver moves to the next
                        // node on each attempt; TLS settings are the host's, for every node).
                        if (broker.Nodes.Count > 1) h.UseCluster(c =>
                        {
                            foreach (var node in broker.Nodes) c.Node($"{node.Host}:{node.Port}");
                        });
                    });
                    // MassTransit declares its endpoints' queues itself, so with the group size each queue has on the broker,
                    // which the first declaration settles (RabbitMQ refuses a queue declared again with another one).
                    ctx.GetRequiredService<TopologyDeclarer>().DeclaredAsync(CancellationToken.None).GetAwaiter().GetResult();
                    var replication = ctx.GetRequiredService<QueueReplication>();
                    // Error and dead-letter queues copy their endpoint's queue arguments; with single active consumer
                    // the management UI and API refuse to show their messages (405 RESOURCE_LOCKED). An error queue's group
                    // size is its own (what TopologyDeclarer found it declared with).
                    cfg.SendTopology.ConfigureErrorSettings = q =>
                    {
                        q.SetQueueArgument(TopologyDeclarer.SingleActiveConsumerArgument, null);
                        if (QueueName(q) is { } name) q.SetQueueArgument(QueueReplication.GroupSizeArgument, replication.For(name));
                    };
                    cfg.SendTopology.ConfigureDeadLetterSettings = q => q.SetQueueArgument(TopologyDeclarer.SingleActiveConsumerArgument, null);
                    cfg.Message<RegistryChanged>(m => m.SetEntityName(PipelineTopology.RegistryChangedExchange));
                    cfg.Message<ResyncRequested>(m => m.SetEntityName(PipelineTopology.ResyncExchange));
                    cfg.Message<ModelUnroutable>(m => m.SetEntityName(PipelineTopology.UnroutableExchange));
                    cfg.Message<ClusterDeployRequested>(m => m.SetEntityName(PipelineTopology.DeployExchange));
                    cfg.Publish<ClusterDeployRequested>(p => p.ExchangeType = ExchangeType.Topic);
                    cfg.Send<ClusterDeployRequested>(s => s.UseRoutingKeyFormatter(c => c.Message.RoutingKey));
                    cfg.Message<ModelDeadLettered>(m => m.SetEntityName(PipelineTopology.DeadLetterExchange));
                    cfg.Message<ReconcileReported>(m => m.SetEntityName(PipelineTopology.ActivityExchange));
                    cfg.Publish<ModelDeadLettered>(p => p.ExchangeType = ExchangeType.Direct);
                    cfg.Send<ModelDeadLettered>(s => s.UseRoutingKeyFormatter(c => c.Message.Cluster));
                    Endpoints(ctx, cfg, (endpoint, queue, singleActive, _) =>
                    {
                        var e = (IRabbitMqReceiveEndpointConfigurator)endpoint;
                        e.SetQuorumQueue(replication.For(queue));
                        e.ConfigureConsumeTopology = false;
                        if (!singleActive) return;
                        e.SingleActiveConsumer = true;
                        e.PrefetchCount = 200;
                    });
                });
        });
        return services;
    }

    /// <summary>The queue MassTransit's error (or dead-letter) settings name; its settings classes expose it, the interface does not.</summary>
    private static string? QueueName(IRabbitMqQueueConfigurator settings) =>
        settings.GetType().GetProperty("QueueName")?.GetValue(settings) as string;
}
