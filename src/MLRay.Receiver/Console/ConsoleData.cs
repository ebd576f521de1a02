using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Rollouts;
using MLRay.Pipeline.Status;
using MLRay.Registry;

namespace MLRay.Receiver.Console;

/// <summary>
/// What one console read found: <c>mlray status</c>'s report, the dead letters and the rollouts in progress, and what could
/// not be read. When MLflow could not be read, <see cref="Models"/> are the last ones read, as of <see cref="ModelsAsOf"/>,
/// and the page says so.
/// </summary>
public sealed record ConsoleView(DateTimeOffset ReadAt, StatusReport Status, DeadLetterListing? Letters, IReadOnlyList<RolloutStatus>? Rollouts,
    IReadOnlyList<string> Problems)
{
    public IReadOnlyList<ModelStatusRow>? Models { get; init; }
    public RegistrySnapshot? Snapshot { get; init; }
    /// <summary>Null when <see cref="Models"/> were read now; else when they were.</summary>
    public DateTimeOffset? ModelsAsOf { get; init; }
    public bool Stale => Problems.Count > 0;

    public IEnumerable<DeadLetterEntry> LettersOf(string cluster, string model, string? version) =>
        Letters?.Clusters.FirstOrDefault(c => c.Cluster == cluster)?.Letters
            .Where(e => e.Letter is { } l && l.RegisteredModel == model && (version is null || l.Version == version)) ?? [];
}

/// <summary>
/// Reads the console's data through the services the CLI and the JSON API use — <see cref="StatusReader"/> (as <c>mlray
/// status</c>), <see cref="DeadLetterOperations.ListAsync"/> and <see cref="RolloutOperations.ListAsync"/> — never another way.
/// </summary>
public sealed class ConsoleState(StatusReader status, DeadLetterOperations deadLetters, RolloutOperations rollouts, MLRayConfig config, TimeProvider time)
{
    private readonly SemaphoreSlim _oneRead = new(1, 1);
    private (IReadOnlyList<ModelStatusRow> Models, RegistrySnapshot? Snapshot, DateTimeOffset At)? _lastModels;

    /// <summary>
    /// One read at a time (the live feed and a page may ask together), and the status before the letters: both hold the
    /// dead-letter queues' lock, and a status read kept waiting would show its rows without the letters.
    /// </summary>
    public async Task<ConsoleView> ReadAsync(CancellationToken ct)
    {
        await _oneRead.WaitAsync(ct);
        try
        {
            return await ReadOnceAsync(ct);
        }
        finally
        {
            _oneRead.Release();
        }
    }

    private async Task<ConsoleView> ReadOnceAsync(CancellationToken ct)
    {
        var inProgress = ReadRolloutsAsync(ct);
        var read = await status.ReadAsync(ct);
        var now = time.GetUtcNow();
        var problems = read.Failures.Select(f => f.ToString()).Concat(read.Notes).ToList();
        var (listing, letterProblem) = await ReadLettersAsync(ct);
        var (rollouts, rolloutProblem) = await inProgress;
        if (letterProblem is not null) problems.Add(letterProblem);
        if (rolloutProblem is not null && read.Models is not null) problems.Add(rolloutProblem);   // MLflow down is said once, by the report
        var view = new ConsoleView(now, read, listing, rollouts, problems.Distinct().ToList()) { Models = read.Models, Snapshot = read.Snapshot };
        if (read.Models is not null)
        {
            _lastModels = (read.Models, read.Snapshot, now);
            return view;
        }
        return _lastModels is { } last ? view with { Models = last.Models, Snapshot = last.Snapshot, ModelsAsOf = last.At } : view;
    }

    private async Task<(DeadLetterListing?, string?)> ReadLettersAsync(CancellationToken ct)
    {
        try
        {
            return (await deadLetters.ListAsync(null, ct), null);
        }
        catch (BrokerException e)
        {
            return (null, $"dead letters not read: {e.Message}");
        }
    }

    private async Task<(IReadOnlyList<RolloutStatus>?, string?)> ReadRolloutsAsync(CancellationToken ct)
    {
        try
        {
            return (await rollouts.ListAsync(null, ct), null);
        }
        catch (Exception e) when (ServiceErrors.IsServiceError(e))
        {
            return (null, "rollouts not read: " + string.Join("; ", ServiceErrors.Describe(e, config)));
        }
    }
}

/// <summary>
/// The live feed behind the pages' event streams: one read every <see cref="OpsConsoleOptions.RefreshInterval"/> while at
/// least one page listens (none otherwise), handed to every listener; a listener too slow for a read gets the next one.
/// </summary>
public sealed class ConsoleFeed(ConsoleState state, IOptions<OpsConsoleOptions> options, TimeProvider time, ILogger<ConsoleFeed> log, IHostApplicationLifetime lifetime)
{
    private readonly Lock _lock = new();
    private readonly List<Channel<ConsoleView>> _listeners = [];
    private bool _running;

    public async IAsyncEnumerable<ConsoleView> ListenAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var channel = Channel.CreateBounded<ConsoleView>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_lock)
        {
            _listeners.Add(channel);
            if (!_running)
            {
                _running = true;
                _ = Task.Run(LoopAsync, CancellationToken.None);
            }
        }
        try
        {
            await foreach (var view in channel.Reader.ReadAllAsync(ct)) yield return view;
        }
        finally
        {
            lock (_lock) _listeners.Remove(channel);
        }
    }

    private async Task LoopAsync()
    {
        var stopping = lifetime.ApplicationStopping;
        while (!stopping.IsCancellationRequested)
        {
            lock (_lock)
                if (_listeners.Count == 0)
                {
                    _running = false;
                    return;
                }
            try
            {
                var view = await state.ReadAsync(stopping);
                lock (_lock) foreach (var listener in _listeners) listener.Writer.TryWrite(view);
                await Task.Delay(options.Value.RefreshInterval, time, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Not a service being down (the view says those): a bug. Logged, and the pages keep their stale marker.
                log.LogError(e, "Ops console read failed");
                await Task.Delay(options.Value.RefreshInterval, time, CancellationToken.None);
            }
        }
        lock (_lock) _running = false;
    }
}
