using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Routing;

namespace MLRay.Pipeline.Resync;

/// <summary>The models parked in <c>mlray.unroutable</c>, made to match the resync's census.</summary>
public interface IUnroutableModels
{
    /// <summary>Parks each of <paramref name="unroutable"/> not parked yet and removes parked models no longer in it; returns (parked, released).</summary>
    Task<(int Parked, int Released)> MatchAsync(IReadOnlyList<ModelUnroutable> unroutable, CancellationToken ct);
}

/// <summary>RabbitMQ: the queue is read and pruned under its lock (<see cref="DeadLetterStore.ReleaseUnroutableAsync"/>), then new ones are parked.</summary>
public sealed class BrokerUnroutableModels(DeadLetterStore store, IClusterDispatcher dispatcher) : IUnroutableModels
{
    public async Task<(int Parked, int Released)> MatchAsync(IReadOnlyList<ModelUnroutable> unroutable, CancellationToken ct)
    {
        var census = await store.ReleaseUnroutableAsync(unroutable, ct);
        foreach (var model in census.ToPark) await dispatcher.ParkAsync(model, ct);
        return (census.ToPark.Count, census.Released);
    }
}

/// <summary>In memory (the demo without a broker): nothing reads the queue back, so each parking is sent once per process.</summary>
public sealed class InProcessUnroutableModels(IClusterDispatcher dispatcher) : IUnroutableModels
{
    private readonly Dictionary<string, ModelUnroutable> _parked = new(StringComparer.Ordinal);

    public async Task<(int Parked, int Released)> MatchAsync(IReadOnlyList<ModelUnroutable> unroutable, CancellationToken ct)
    {
        var parked = 0;
        foreach (var model in unroutable)
        {
            lock (_parked)
                if (_parked.TryGetValue(model.RegisteredModel, out var was) && was.SameParking(model)) continue;
                else _parked[model.RegisteredModel] = model;
            await dispatcher.ParkAsync(model, ct);
            parked++;
        }
        var wanted = unroutable.Select(m => m.RegisteredModel).ToHashSet(StringComparer.Ordinal);
        int released;
        lock (_parked) released = _parked.Keys.Where(k => !wanted.Contains(k)).ToList().Count(_parked.Remove);
        return (parked, released);
    }
}
