using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Flurl.Http;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Deploy;

/// <summary>A service MLRay talks to, named as a user finds it in config.yml: its role, the key that sets its address, the address.</summary>
public sealed record ServiceEndpoint(string Role, string ConfigKey, Uri Address)
{
    public override string ToString() => $"{Role} ({ConfigKey} = {Address})";

    public static ServiceEndpoint Mlflow(MLRayConfig config) => new("MLflow tracking server", config.Mlflow.TrackingUriKey, config.Mlflow.TrackingUri);

    /// <summary>The broker, its password left out.</summary>
    public static ServiceEndpoint Broker(MLRayConfig config) =>
        new("RabbitMQ broker", config.Pipeline.RabbitMqUriKey, new Uri(config.Pipeline.RedactedRabbitMqUri));

    public static ServiceEndpoint RayDashboard(MLRayConfig config, RayClusterConfig cluster)
    {
        var index = config.Clusters.ToList().FindIndex(c => c.Name == cluster.Name);
        return new($"Ray dashboard of {cluster.Name}", $"ray_clusters[{(index >= 0 ? index : cluster.Name)}].dashboard_address", cluster.DashboardAddress);
    }
}

/// <summary>What went wrong with one service, in one line: <c>Ray dashboard of c (key = url): connection refused</c>.</summary>
public sealed record ServiceFailure(ServiceEndpoint? Service, string Problem)
{
    public override string ToString() => Service is null ? Problem : $"{Service}: {Problem}";
}

/// <summary>Several services failed in one step (read side by side): every one is reported, not the first.</summary>
public sealed class ServicesFailedException(IReadOnlyList<Exception> failures)
    : Exception(string.Join("; ", failures.Select(f => f.Message)))
{
    public IReadOnlyList<Exception> Failures { get; } = failures;
}

/// <summary>
/// Turns the exceptions of MLRay's HTTP clients into failures that name the service, the config key that points at it and
/// what happened (connection refused, no answer, the status it answered), so "Call failed" never reaches a user alone.
/// </summary>
public static class ServiceErrors
{
    /// <summary>An exception that means a service could not be reached or refused the request (not a bug, not bad config).</summary>
    public static bool IsServiceError(Exception e) =>
        e is MlflowException or RayRejectedException or FlurlHttpException or HttpRequestException or ServicesFailedException;

    /// <summary>Awaits every task; one failure is rethrown as it is, several as one <see cref="ServicesFailedException"/>.</summary>
    public static async Task WhenAllAsync(params Task[] tasks)
    {
        try
        {
            await Task.WhenAll(tasks);
        }
        catch
        {
            var errors = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).ToList();
            if (errors.Count == 1) ExceptionDispatchInfo.Throw(errors[0]);
            if (errors.Count > 1) throw new ServicesFailedException(errors);
            throw;
        }
    }

    /// <summary>
    /// One failure per service that failed, each named from <paramref name="config"/>: the URL a request went to is matched
    /// against MLflow's and every cluster's address; a Ray answer without a URL is <paramref name="cluster"/>'s.
    /// </summary>
    public static IReadOnlyList<ServiceFailure> Describe(Exception e, MLRayConfig config, RayClusterConfig? cluster = null) => e switch
    {
        ServicesFailedException many => [.. many.Failures.SelectMany(f => Describe(f, config, cluster))],
        MlflowException m => [new ServiceFailure(ServiceEndpoint.Mlflow(config), $"answered {m.Status} {m.ErrorCode}: {m.MlflowMessage}")],
        RayRejectedException r => [new ServiceFailure(cluster is null ? null : ServiceEndpoint.RayDashboard(config, cluster),
            $"answered {r.Status}: {r.Body}")],   // verbatim: Ray's traceback is the diagnosis
        FlurlHttpException f => [new ServiceFailure(Find(config, f.Call?.Request?.Url?.ToUri()) ?? (cluster is null ? null : ServiceEndpoint.RayDashboard(config, cluster)),
            Problem(f))],
        _ => [new ServiceFailure(null, Transport(e) ?? e.Message)],
    };

    private static ServiceEndpoint? Find(MLRayConfig config, Uri? url)
    {
        if (url is null) return null;
        static bool Same(Uri a, Uri b) => a.Scheme == b.Scheme && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;
        if (Same(config.Mlflow.TrackingUri, url)) return ServiceEndpoint.Mlflow(config);
        return config.Clusters.FirstOrDefault(c => Same(c.DashboardAddress, url)) is { } cluster ? ServiceEndpoint.RayDashboard(config, cluster) : null;
    }

    private static string Problem(FlurlHttpException f) =>
        f is FlurlHttpTimeoutException ? "no answer in time (timed out)"
        : f.StatusCode is { } status ? $"answered HTTP {status}"
        : Transport(f) ?? f.Message;

    /// <summary>The socket's own words for a failed connection: "connection refused", "host not found"…</summary>
    private static string? Transport(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is SocketException s)
                return s.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host not found",
                    SocketError.TimedOut => "connection timed out",
                    SocketError.NetworkUnreachable or SocketError.HostUnreachable => "unreachable",
                    _ => s.Message.ToLowerInvariant(),
                };
        return e is HttpRequestException or TaskCanceledException ? e.Message : null;
    }
}
