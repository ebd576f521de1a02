using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;

namespace MLRay.Testing;

/// <summary>Wake-ups and dead letters a worker asked for, without a broker (for tests of the worker alone).</summary>
internal sealed class RecordedWakeUps : IWakeUps, IDeadLetters
{
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
