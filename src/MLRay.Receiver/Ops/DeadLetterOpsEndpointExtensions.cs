using System.Security.Cryptography;
using System.Text;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Topology;
using MLRay.ServiceDefaults;

namespace MLRay.Receiver.Ops;

/// <summary>
/// The ops API: the same dead-letter operations as <c>mlray dlq</c>, over HTTP, behind a bearer token
/// (<c>receiver.ops_token_env</c> / <c>_file</c>). Without a token configured nothing is mapped (every ops path is 404).
/// </summary>
public static class DeadLetterOpsEndpointExtensions
{
    public const string Route = "/ops/dead-letters";

    /// <summary>The dead-letter operations on the config's broker and the dead-letter metrics on <c>/metrics</c> (these need no token).</summary>
    public static IServiceCollection AddDeadLetterOps(this IServiceCollection services, MLRayConfig config)
    {
        services.TryAddSingleton(_ => new DeadLetterStore(RabbitMqEndpoint.For(config.Pipeline)));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new DeadLetterMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<DeadLetterStore>(),
            config.Clusters.Select(c => c.Name).ToList(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<DeadLetterMetrics>>()));
        services.AddSingleton<IMetricsRefresher>(sp => sp.GetRequiredService<DeadLetterMetrics>()); // read at each scrape
        services.TryAddSingleton(sp => new DeadLetterOperations(sp.GetRequiredService<DeadLetterStore>(), config));
        services.TryAddSingleton(sp => new DeadLetterOpsHandler(sp.GetRequiredService<DeadLetterOperations>(), config, sp.GetRequiredService<ILogger<DeadLetterOpsHandler>>()));
        return services;
    }

    /// <summary>
    /// <c>GET /ops/dead-letters[?cluster=NAME]</c> (list; the unroutable models too without a cluster), <c>GET|DELETE /ops/dead-letters/{cluster}/{id}</c> (show, purge one),
    /// <c>POST /ops/dead-letters/{cluster}/replay</c> with <c>{"ids": […]}</c>, <c>{"model": "NAME"}</c> or <c>{"all": true}</c>.
    /// Only when <see cref="PipelineSettings.OpsToken"/> is set; returns whether it mapped them.
    /// </summary>
    public static bool MapDeadLetterOps(this IEndpointRouteBuilder endpoints, MLRayConfig config)
    {
        // Resolved now so the gauges exist (and are exported) whether or not the ops API is on.
        endpoints.ServiceProvider.GetRequiredService<DeadLetterMetrics>();
        if (config.Pipeline.OpsToken is not { } token) return false;
        var ops = endpoints.MapGroup(Route).AddEndpointFilter(new BearerTokenFilter(token));
        ops.MapGet("", (string? cluster, DeadLetterOpsHandler h, CancellationToken ct) => h.ListAsync(cluster, ct));
        ops.MapGet("{cluster}/{id}", (string cluster, string id, DeadLetterOpsHandler h, CancellationToken ct) => h.ShowAsync(cluster, id, ct));
        ops.MapDelete("{cluster}/{id}", (string cluster, string id, DeadLetterOpsHandler h, CancellationToken ct) => h.PurgeAsync(cluster, id, ct));
        ops.MapPost("{cluster}/replay", (string cluster, LetterSelection selection, DeadLetterOpsHandler h, CancellationToken ct) => h.ReplayAsync(cluster, selection, ct));
        return true;
    }
}

/// <summary>
/// The ops token, compared in constant time. Both sides are hashed first so the comparison does not leak the token's
/// length either. Shared by the JSON API's filter, the console's bearer scheme and its login form. Never logged.
/// </summary>
internal sealed class OpsTokenMatcher(string token)
{
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public bool Matches(string? given) =>
        given is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given.Trim())), _expected);

    /// <summary>The token of an <c>Authorization: Bearer …</c> header; null when there is not exactly one such header.</summary>
    public static string? BearerOf(HttpRequest request)
    {
        var headers = request.Headers.Authorization;
        var header = headers.Count == 1 ? headers[0] : null;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..] : null;
    }
}

/// <summary>401 (with <c>WWW-Authenticate: Bearer</c>) without a bearer token, 403 with a wrong one.</summary>
internal sealed class BearerTokenFilter(string token) : IEndpointFilter
{
    private readonly OpsTokenMatcher _token = new(token);

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (OpsTokenMatcher.BearerOf(http.Request) is not { } given)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return ValueTask.FromResult<object?>(Results.Json(new { error = "this ops API needs Authorization: Bearer <token>" }, statusCode: StatusCodes.Status401Unauthorized));
        }
        return _token.Matches(given)
            ? next(context)
            : ValueTask.FromResult<object?>(Results.Json(new { error = "wrong token" }, statusCode: StatusCodes.Status403Forbidden));
    }
}

/// <summary>
/// The ops API's answers: <see cref="DeadLetterOperations"/> as JSON, the same as <c>mlray dlq --output json</c> prints; 404 for
/// an unknown cluster (<see cref="MLRayConfig.GetCluster"/>'s words) or letter, 503 when the broker fails.
/// </summary>
public sealed class DeadLetterOpsHandler(DeadLetterOperations operations, MLRayConfig config, ILogger<DeadLetterOpsHandler> log)
{
    public Task<IResult> ListAsync(string? cluster, CancellationToken ct) => Guard(cluster, async only =>
        Results.Json(DeadLetterJson.Listing(await operations.ListAsync(only, ct))));

    public Task<IResult> ShowAsync(string cluster, string id, CancellationToken ct) => GuardCluster(cluster, async known =>
        await operations.FindAsync(known, id, ct) is { } entry
            ? Results.Json(DeadLetterJson.Letter(entry))
            : NotFound(DeadLetterStore.NoSuchLetter(known.Name, id)));

    public Task<IResult> PurgeAsync(string cluster, string id, CancellationToken ct) => GuardCluster(cluster, async known =>
    {
        var outcome = await operations.PurgeAsync(known, new LetterSelection { Ids = [id] }, ct);
        log.LogInformation("Ops API purged {Count} dead letter(s) of {Cluster}: {Ids}", outcome.Removed.Count, known.Name, outcome.Removed.Select(e => e.Id));
        return outcome.Removed.Count == 0 ? NotFound(outcome.Problems[0]) : Results.Json(DeadLetterJson.Outcome(known.Name, "purged", outcome));
    });

    /// <summary>200 with what was replayed and each problem (an id not found…); 400 for a body that selects nothing or several ways.</summary>
    public Task<IResult> ReplayAsync(string cluster, LetterSelection selection, CancellationToken ct) => GuardCluster(cluster, async known =>
    {
        if (selection.Problem is { } problem)
            return OpsAnswers.Error($"{problem}: send {{\"ids\": [\"…\"]}}, {{\"model\": \"NAME\"}} or {{\"all\": true}}", StatusCodes.Status400BadRequest);
        var outcome = await operations.ReplayAsync(known, selection, ct);
        log.LogInformation("Ops API replayed {Count} dead letter(s) of {Cluster}: {Ids}", outcome.Removed.Count, known.Name, outcome.Removed.Select(e => e.Id));
        return Results.Json(DeadLetterJson.Outcome(known.Name, "replayed", outcome));
    });

    private Task<IResult> GuardCluster(string cluster, Func<RayClusterConfig, Task<IResult>> answer) => Guard(cluster, known => answer(known!));

    private Task<IResult> Guard(string? cluster, Func<RayClusterConfig?, Task<IResult>> answer) => OpsAnswers.ForClusterAsync(config, cluster, log, answer);

    private static IResult NotFound(string error) => OpsAnswers.Error(error, StatusCodes.Status404NotFound);
}
