using Microsoft.Extensions.DependencyInjection;

namespace MLRay.Pipeline;

public static class PipelineServiceCollectionExtensions
{
    /// <summary>Registers the MLRay services and the MassTransit bus for the given roles. (Being written.)</summary>
    public static IServiceCollection AddMLRayPipeline(this IServiceCollection services, MLRayConfig config, IEnvironment env, PipelineRoles roles)
    {
        return services;
    }
}
