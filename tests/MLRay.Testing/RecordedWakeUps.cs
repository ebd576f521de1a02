using Microsoft.Extensions.Logging.Abstractions;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Resync;

namespace MLRay.Testing;

/// <summary>Wake-ups and dead letters a worker asked for, without a broker (for tests of the worker alone).</summary>
internal sealed class RecordedWakeUps : IWakeUps, IDeadLetters, IUnroutableModels
{
    /// <summary>The models the last routing census found no cluster for.</summary>
    public IReadOnlyList<ModelUnroutable> Unroutable { get; private set; } = [];

    public Task<(int Parked, int Released)> MatchAsync(IReadOnlyList<ModelUnroutable> unroutable, CancellationToken ct)
    {
        Unroutable = unroutable;
        return Task.FromResult((unroutable.Count, 0));
    }

    /// <summary>A census that records into this.</summary>
    public RegistryCensus Census(MLRayConfig config) => new(this, config, NullLogger<RegistryCensus>.Instance);

    public List<(TimeSpan Delay, ClusterDeployRequested Message)> Scheduled { get; } = [];
    public List<ModelDeadLettered> Letters { get; } = [];

    public Task ScheduleAsync(string cluster, TimeSpan delay, ClusterDeployRequested message, CancellationToken ct)
    {
        lock (Scheduled) Scheduled.Add((delay, message));
        return Task.CompletedTask;
    }

    public Task PublishAsync(ModelDeadLettered letter, CancellationToken ct)
    {
        lock (Letters) Letters.Add(letter);
        return Task.CompletedTask;
    }

    public List<string> Removed { get; } = [];

    public Task<bool> RemoveAsync(string cluster, string id, CancellationToken ct)
    {
        lock (Letters)
        {
            Removed.Add(id);
            return Task.FromResult(Letters.RemoveAll(l => l.Id == id) > 0);
        }
    }
}
