using MLRay.Deploy;
using MLRay.Pipeline.Failures;

namespace MLRay.Receiver.Ops;

/// <summary>What every ops handler answers alike: errors as <c>{"error": "…"}</c>, an unknown cluster 404, a service that failed 503.</summary>
internal static class OpsAnswers
{
    public static IResult Error(string error, int statusCode) => Results.Json(new { error }, statusCode: statusCode);

    /// <summary>
    /// Resolves <paramref name="cluster"/> (null: none asked for) and answers; an unknown cluster is 404 in
    /// <see cref="MLRayConfig.GetCluster"/>'s words, the broker or MLflow failing 503 saying what failed.
    /// </summary>
    public static async Task<IResult> ForClusterAsync(MLRayConfig config, string? cluster, ILogger log, Func<RayClusterConfig?, Task<IResult>> answer)
    {
        RayClusterConfig? known;
        try
        {
            known = cluster is null ? null : config.GetCluster(cluster);
        }
        catch (ConfigException e)
        {
            return Error(e.Problem, StatusCodes.Status404NotFound);   // the problem alone: the config key means nothing to an HTTP caller
        }
        try
        {
            return await answer(known);
        }
        catch (Exception e) when (e is BrokerException || ServiceErrors.IsServiceError(e))
        {
            var error = e is BrokerException ? e.Message : string.Join("; ", ServiceErrors.Describe(e, config, known));
            log.LogWarning("Ops API: {Error}", error);
            return Error(error, StatusCodes.Status503ServiceUnavailable);
        }
    }
}
