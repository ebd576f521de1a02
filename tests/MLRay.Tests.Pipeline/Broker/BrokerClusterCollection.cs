namespace MLRay.Tests.Broker;

/// <summary>
/// Tests on the three-node loopback cluster (<see cref="RabbitMqCluster"/>, <c>scripts/rabbitmq.sh cluster</c>): they stop and
/// start its nodes, so they run alone, never beside another collection; the single broker on 5672 is not touched.
/// </summary>
[CollectionDefinition("broker-cluster", DisableParallelization = true)]
public sealed class BrokerClusterCollection : ICollectionFixture<RabbitMqCluster>;
