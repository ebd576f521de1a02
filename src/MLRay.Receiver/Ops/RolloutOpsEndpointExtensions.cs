using Microsoft.Extensions.DependencyInjection.Extensions;
using MLRay.Deploy;
using MLRay.Pipeline.Rollouts;
using MLRay.Registry;

namespace MLRay.Receiver.Ops;

/// <summary>
/// The ops API's rollouts: the same operations as <c>mlray rollout</c>, over HTTP, behind the dead-letter endpoints' bearer
/// token (<c>receiver.ops_token_env</c> / <c>_file</c>). Without a token configured nothing is mapped.
/// </summary>
public static class RolloutOpsEndpointExtensions
{
    public const string Route = "/ops/rollouts";

    /// <summary>The rollout operations on the process's MLflow client and the config's broker (resolved on first use).</summary>
    public static IServiceCollection AddRolloutOps(this IServiceCollection services, MLRayConfig config)
    {
        services.TryAddSingleton(sp => new RolloutOperations(sp.GetRequiredService<MlflowClient>(), sp.GetRequiredService<RegistryReader>(),
            sp.GetRequiredService<IHttpClientFactory>(), config));
        services.TryAddSingleton(sp => new RolloutOpsHandler(sp.GetRequiredService<RolloutOperations>(), config, sp.GetRequiredService<ILogger<RolloutOpsHandler>>()));
        return services;
    }

    /// <summary>
    /// <c>GET /ops/rollouts[?cluster=NAME]</c> (in progress), <c>GET /ops/rollouts/{cluster}/{model}</c> (status),
    /// <c>POST /ops/rollouts/{cluster}/{model}/{pause|resume|promote|abort}</c>. Only when <see cref="PipelineSettings.OpsToken"/>
    /// is set; returns whether it mapped them.
    /// </summary>
    public static bool MapRolloutOps(this IEndpointRouteBuilder endpoints, MLRayConfig config)
    {
        if (config.Pipeline.OpsToken is not { } token) return false;
        var ops = endpoints.MapGroup(Route).AddEndpointFilter(new BearerTokenFilter(token));
        ops.MapGet("", (string? cluster, RolloutOpsHandler h, CancellationToken ct) => h.ListAsync(cluster, ct));
        ops.MapGet("{cluster}/{model}", (string cluster, string model, RolloutOpsHandler h, CancellationToken ct) => h.StatusAsync(cluster, model, ct));
        ops.MapPost("{cluster}/{model}/{command}", (string cluster, string model, string command, RolloutOpsHandler h, CancellationToken ct) =>
            h.SendAsync(cluster, model, command, ct));
        return true;
    }
}

/// <summary>
/// The rollout API's answers: <see cref="RolloutOperations"/> as <see cref="RolloutJson"/>, the same as <c>mlray rollout
/// --output json</c> prints; 404 for an unknown cluster or model, 400 an unknown command, 409 no rollout in progress, 503
/// when MLflow or the broker fails.
/// </summary>
public sealed class RolloutOpsHandler(RolloutOperations operations, MLRayConfig config, ILogger<RolloutOpsHandler> log)
{
    public Task<IResult> ListAsync(string? cluster, CancellationToken ct) => OpsAnswers.ForClusterAsync(config, cluster, log, async only =>
        Results.Json(RolloutJson.Listing(await operations.ListAsync(only, ct))));

    public Task<IResult> StatusAsync(string cluster, string model, CancellationToken ct) => Answer(cluster, async known =>
        Results.Json(RolloutJson.Status(await operations.StatusAsync(known, model, ct))));

    /// <summary>202 once the command is in the cluster's queue: its worker applies it at its next reconcile.</summary>
    public Task<IResult> SendAsync(string cluster, string model, string command, CancellationToken ct) => Answer(cluster, async known =>
    {
        RolloutCommand asked;
        try
        {
            asked = RolloutCommands.Parse(command);
        }
        catch (ArgumentException e)
        {
            return OpsAnswers.Error(e.Message, StatusCodes.Status400BadRequest);
        }
        var sent = await operations.SendAsync(known, model, asked, ct);
        log.LogInformation("Ops API asked {Cluster} to {Command} the rollout of {Model} (version {Version}) through {Queue}",
            sent.Cluster, asked.Name(), sent.RegisteredModel, sent.Rollout.Version, sent.Queue);
        return Results.Json(RolloutJson.Sent(sent), statusCode: StatusCodes.Status202Accepted);
    });

    private Task<IResult> Answer(string cluster, Func<RayClusterConfig, Task<IResult>> answer) => OpsAnswers.ForClusterAsync(config, cluster, log, async known =>
    {
        try
        {
            return await answer(known!);
        }
        catch (RolloutRefusedException e)
        {
            return OpsAnswers.Error(e.Message, e.UnknownModel ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict);
        }
    });
}
