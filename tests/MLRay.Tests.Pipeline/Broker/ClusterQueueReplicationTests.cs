using Microsoft.Extensions.Logging.Abstractions;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Topology;
using MLRay.Tests.Faults;
using MLRay.Tests.Pipeline;

namespace MLRay.Tests.Broker;

/// <summary>
/// Quorum replication on the three-node cluster: both declarers agree on <c>x-quorum-initial-group-size</c> (RabbitMQ refuses a
/// queue declared again with another value), and queues an older MLRay declared without it are kept and consumed.
/// </summary>
[Collection("broker-cluster")]
public class ClusterQueueReplicationTests(RabbitMqCluster cluster)
{
    private static readonly string[] QuorumQueues =
    [
        PipelineTopology.RegistryChangesQueue, PipelineTopology.UnroutableQueue,
        PipelineTopology.ClusterQueue(FaultSuite.Cluster), PipelineTopology.ErrorQueue(PipelineTopology.ClusterQueue(FaultSuite.Cluster)),
    ];

    /// <summary>Where the shortest wake-ups wait: a quorum queue too with several nodes, so a wake-up outlives its node.</summary>
    private static readonly string WaitQueue = PipelineTopology.WaitQueue(FaultSuite.Cluster, WaitLevels.Shortest);

    [Fact]
    public async Task With_three_nodes_listed_every_quorum_queue_has_three_replicas_and_the_pipeline_runs()
    {
        await using var world = await PipelineWorld.StartAsync(cluster);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync([FaultSuite.Cluster]);
        foreach (var queue in QuorumQueues.Append(WaitQueue))
            Assert.Equal(((int?)3, 3), await cluster.QueueReplicationAsync(world.BrokerUri.ToString(), queue));

        // MassTransit declared the router's and the worker's queues with the same argument, or it would not consume.
        var version = SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], "replicated");
        await FaultSuite.AssertExactStateAsync(world, world.Emulators.Ray312, FaultSuite.Cluster, new Dictionary<string, string> { ["replicated"] = version }, seconds: 60);
    }

    [Fact]
    public async Task Queues_an_older_MLRay_declared_without_a_group_size_keep_it_and_are_consumed()
    {
        await using var world = await PipelineWorld.StartAsync(cluster);
        // What an MLRay without node lists declared: quorum queues without x-quorum-initial-group-size.
        await using (var connection = await RabbitMqEndpoint.Parse(world.BrokerUri).ConnectAsync("older mlray", TimeSpan.FromSeconds(5), CancellationToken.None))
            await TopologyDeclarer.DeclareAsync(connection, world.Config, new QueueReplication(null), NullLogger.Instance, CancellationToken.None);
        Assert.Equal(3, RabbitMqEndpoint.For(world.Config.Pipeline).QuorumGroupSize);   // what this config would declare them with

        await world.StartReceiverAsync();
        await world.StartWorkerAsync([FaultSuite.Cluster]);
        foreach (var queue in QuorumQueues)
            Assert.Equal(((int?)null, 3), await cluster.QueueReplicationAsync(world.BrokerUri.ToString(), queue));
        Assert.Equal(((int?)null, 0), await cluster.QueueReplicationAsync(world.BrokerUri.ToString(), WaitQueue));   // classic, as it was
        var version = SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], "upgraded");
        await FaultSuite.AssertExactStateAsync(world, world.Emulators.Ray312, FaultSuite.Cluster, new Dictionary<string, string> { ["upgraded"] = version }, seconds: 60);
    }
}
