using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace MLRay.Registry;

/// <summary>
/// A model version's environment files (<c>python_env.yaml</c>, <c>requirements.txt</c>, <c>conda.yaml</c>,
/// <c>MLmodel</c>), read once per version: a version's artifacts never change. Kept in memory for the process and,
/// when a directory is given, on disk so a restarted process stays warm. Cold reads run at most
/// <see cref="MaxParallelReads"/> at a time, so a cold start over thousands of models is limited by the server.
/// </summary>
/// <remarks>
/// The key includes the tracking server and the version's creation time, so a model deleted and registered again
/// under the same name (version 1 once more, other files) is read anew. The disk cache holds only copies of what
/// MLflow serves: deleting it costs one cold read per version, nothing else.
/// </remarks>
public sealed class ModelEnvironmentCache(ArtifactReader artifacts, Uri trackingUri, string? directory)
{
    public const int MaxParallelReads = 16;

    private readonly ConcurrentDictionary<string, Task<ModelEnvironmentFiles>> _memory = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reads = new(MaxParallelReads, MaxParallelReads);
    private int _downloads;

    /// <summary>How many versions' files were downloaded (not served from memory or disk), for tests and the benchmark.</summary>
    public int Downloads => Volatile.Read(ref _downloads);

    public async Task<ModelEnvironmentFiles> GetAsync(ModelVersion version, CancellationToken ct)
    {
        var key = Key(version);
        var task = _memory.GetOrAdd(key, _ => LoadAsync(version, key, ct));
        try
        {
            return await task;
        }
        catch (UnsupportedArtifactSchemeException)
        {
            throw; // the download URI of a version never changes either: keep the answer
        }
        catch
        {
            _memory.TryRemove(new KeyValuePair<string, Task<ModelEnvironmentFiles>>(key, task)); // transient or refused: try again next time
            throw;
        }
    }

    private async Task<ModelEnvironmentFiles> LoadAsync(ModelVersion version, string key, CancellationToken ct)
    {
        await Task.Yield(); // never run the download inside GetOrAdd's factory
        var path = directory is null || version.CreationTimestamp is null ? null : Path.Combine(directory, key + ".json");
        if (path is not null && TryReadDisk(path) is { } cached) return cached;
        // Processes sharing the directory (receiver, router, workers on one host or one volume) read a version once between
        // them: whoever holds the key's lock reads MLflow, the others find its file when they get the lock.
        using var shared = path is null ? null : await CrossProcessLock.TakeAsync(Path.Combine(directory!, ".locks", key[..3] + ".lock"), ct);
        if (shared is not null && TryReadDisk(path!) is { } readByAnother) return readByAnother;

        await _reads.WaitAsync(ct);
        ModelEnvironmentFiles files;
        try
        {
            var location = await artifacts.ResolveModelVersionAsync(version.Name, version.Version, ct);
            files = await artifacts.ReadEnvironmentFilesAsync(location, ct);
            Interlocked.Increment(ref _downloads);
        }
        finally
        {
            _reads.Release();
        }
        if (path is not null) TryWriteDisk(path, files);
        return files;
    }

    private string Key(ModelVersion version)
    {
        // "files-2": entries written before the serving input example was read with the files are read again.
        var identity = $"files-2\n{trackingUri.ToString().TrimEnd('/')}\n{version.Name}\n{version.Version}\n{version.CreationTimestamp}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)));
    }

    private static ModelEnvironmentFiles? TryReadDisk(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<ModelEnvironmentFiles>(File.ReadAllBytes(path)) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null; // unreadable or half-written: read from MLflow again
        }
    }

    private static void TryWriteDisk(string path, ModelEnvironmentFiles files)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(files));
            File.Move(temp, path, overwrite: true); // atomic: a reader sees the old file or the whole new one
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written only costs a cold read after a restart.
        }
    }
}

/// <summary>
/// An exclusive lock on a file (an advisory <c>flock</c>, which .NET takes for <see cref="FileShare.None"/>), released with the
/// process if it dies. Held only around one version's cold read; one lock file stands for 1/4096 of the keys.
/// </summary>
internal static class CrossProcessLock
{
    /// <summary>The lock, or null when it could not be had within a minute or the directory is not writable (the read then goes ahead unlocked).</summary>
    public static async Task<IDisposable?> TakeAsync(string path, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20, ct); // held by another reader of the same keys
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
