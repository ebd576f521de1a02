using Flurl.Http;
using MLRay.Registry;
using MLRay.Serve;

namespace MLRay.Pipeline.Failures;

/// <summary>
/// Which errors of a reconcile are worth trying again soon: timeouts, connection errors, 5xx and 429 from MLflow,
/// S3 or Ray, and the broker being away. Anything else is a bug or a refusal that retrying will not fix.
/// </summary>
public static class TransientErrors
{
    public static bool Is(Exception e) => e switch
    {
        MlflowException m => m.IsTransient || m.Status >= 500,
        RayRejectedException r => r.Status is 429 or >= 500,
        FlurlHttpException f => f.StatusCode is null or 429 or >= 500,
        HttpRequestException or TimeoutException or TaskCanceledException => true,
        // The cluster's layout cannot be applied until ops move an app: looked at again with backoff, never dropped.
        MLRay.Serve.ServeLayoutException => true,
        Amazon.S3.AmazonS3Exception s => (int)s.StatusCode is 429 or >= 500,
        Amazon.Runtime.AmazonServiceException a => (int)a.StatusCode is 0 or 429 or >= 500,
        RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.AlreadyClosedException => true,
        AggregateException agg => agg.InnerExceptions.All(Is),
        _ => e.InnerException is { } inner && Is(inner),
    };
}
