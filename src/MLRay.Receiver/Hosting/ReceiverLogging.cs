using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace MLRay.Receiver.Hosting;

public static class ReceiverLogging
{
    /// <summary>
    /// Compact JSON (CLEF) on stdout, one event a line. Levels can be changed through configuration
    /// (<c>Serilog__MinimumLevel__Default=Debug</c>).
    /// </summary>
    public static LoggerConfiguration Configure(LoggerConfiguration logger, IConfiguration? configuration = null)
    {
        logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.WithProperty("Application", "mlray-receiver")
            .WriteTo.Console(new CompactJsonFormatter());
        if (configuration is not null) logger.ReadFrom.Configuration(configuration);
        return logger;
    }

    /// <summary>A logger for start-up failures, before the host exists.</summary>
    public static Serilog.Core.Logger CreateStartupLogger() => Configure(new LoggerConfiguration()).CreateLogger();
}
