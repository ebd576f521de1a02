using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MLRay.Deploy;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Rollouts;
using MLRay.Pipeline.Status;
using MLRay.Pipeline.Workers;
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
/// The live feed behind the pages' event streams, while at least one page listens (no reads otherwise), each read handed
/// to every listener (a listener too slow for a read gets the next one). It reads when something may have changed — a
/// worker reported a reconcile (every receiver hears every report) or an operator acted here — at most once per
/// <see cref="OpsConsoleOptions.RefreshInterval"/>, and otherwise once per <see cref="OpsConsoleOptions.IdleRefreshInterval"/>:
/// a read is a whole-registry read, so an open page on a quiet registry must not cost one every few seconds.
/// </summary>
public sealed class ConsoleFeed : IDisposable
{
    private readonly ConsoleState _state;
    private readonly IOptions<OpsConsoleOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ConsoleFeed> _log;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ActivityLog _activity;
    private readonly Lock _lock = new();
    private readonly List<Channel<ConsoleView>> _listeners = [];
    /// <summary>At most one pending "something changed": any number of them before the next read is one read.</summary>
    private readonly Channel<bool> _changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private bool _running;

    public ConsoleFeed(ConsoleState state, IOptions<OpsConsoleOptions> options, TimeProvider time, ILogger<ConsoleFeed> log,
        IHostApplicationLifetime lifetime, ActivityLog activity)
    {
        (_state, _options, _time, _log, _lifetime, _activity) = (state, options, time, log, lifetime, activity);
        _activity.Added += OnReported;
    }

    /// <summary>Something may have changed (an operator's action here): the next read comes within the refresh interval.</summary>
    public void Changed() => _changed.Writer.TryWrite(true);

    private void OnReported(ReconcileReported report) => Changed();

    public void Dispose() => _activity.Added -= OnReported;

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
        var stopping = _lifetime.ApplicationStopping;
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
                _changed.Reader.TryRead(out _);   // this read answers what was reported before it
                var view = await _state.ReadAsync(stopping);
                lock (_lock) foreach (var listener in _listeners) listener.Writer.TryWrite(view);
                await Task.Delay(_options.Value.RefreshInterval, _time, stopping);
                await NextChangeAsync(_options.Value.IdleRefreshInterval - _options.Value.RefreshInterval, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Not a service being down (the view says those): a bug. Logged, and the pages keep their stale marker.
                _log.LogError(e, "Ops console read failed");
                await Task.Delay(_options.Value.RefreshInterval, _time, CancellationToken.None);
            }
        }
        lock (_lock) _running = false;
    }

    /// <summary>Until something is reported changed, or <paramref name="atMost"/> has passed.</summary>
    private async Task NextChangeAsync(TimeSpan atMost, CancellationToken stopping)
    {
        if (atMost <= TimeSpan.Zero) return;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var changed = _changed.Reader.WaitToReadAsync(done.Token).AsTask();
        var idle = Task.Delay(atMost, _time, done.Token);
        await Task.WhenAny(changed, idle);
        await done.CancelAsync();
        await Task.WhenAll(changed, idle).ContinueWith(_ => { }, TaskScheduler.Default);   // both ended; the loser's cancellation observed
        stopping.ThrowIfCancellationRequested();
    }
}
