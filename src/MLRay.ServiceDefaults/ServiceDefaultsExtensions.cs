using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Serilog;

namespace MLRay.ServiceDefaults;

/// <summary>
/// What every MLRay service host (receiver, worker) sets up the same way, in the manner of .NET Aspire's ServiceDefaults:
/// <see cref="AddMLRayServiceDefaults"/> for the services, <see cref="HealthEndpointExtensions.MapMLRayDefaultEndpoints"/>
/// for the endpoints, <see cref="ServiceStartup.RunAsync"/> for the exit codes.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>
    /// How long a graceful stop (SIGTERM) may take before the host gives up: the worker's reconcile in progress and its
    /// handover to the standby, the receiver's requests in flight. .NET's default, stated so that a deployment's grace
    /// period (Kubernetes' terminationGracePeriodSeconds) can be made longer than it and checked against it.
    /// </summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// No <c>Server</c> header; Serilog as <see cref="MLRayLogging"/> configures it (stdout, or <paramref name="logOutput"/>);
    /// health checks and metrics; tracing. Returns the logger (e.g. for request logging).
    /// </summary>
    public static Serilog.ILogger AddMLRayServiceDefaults(this WebApplicationBuilder builder, string application, TextWriter? logOutput = null)
    {
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        var logger = MLRayLogging.Configure(new LoggerConfiguration(), application, builder.Configuration, logOutput).CreateLogger();
        builder.Services.AddSerilog(logger, dispose: true);
        builder.Services.AddMLRayHealth().AddMLRayTracing(builder.Configuration, application);
        return logger;
    }
}
