namespace MLRay.Tests.Broker;

/// <summary>
/// Tests that need a real RabbitMQ: <c>[Collection("broker")]</c> and take <see cref="RabbitMqBroker"/> in the
/// constructor. Not run in parallel with each other (the outage helpers stop the whole broker). xUnit reads a
/// collection definition only from the test assembly itself, so it lives here and every broker test is in this project.
/// </summary>
[CollectionDefinition("broker", DisableParallelization = true)]
public sealed class BrokerCollection : ICollectionFixture<RabbitMqBroker>;
