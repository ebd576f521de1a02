using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

using Microsoft.Extensions.Configuration;

namespace MLRay.ServiceDefaults;

/// <summary>How every MLRay service logs: compact JSON (CLEF) on stdout, one event a line.</summary>
public static class MLRayLogging
{
    /// <summary>
    /// Compact JSON (CLEF) on stdout, one event a line. Levels can be changed through configuration
    /// (<c>Serilog__MinimumLevel__Default=Debug</c>). <paramref name="output"/> replaces stdout (tests).
    /// </summary>
    public static LoggerConfiguration Configure(LoggerConfiguration logger, string application, IConfiguration? configuration = null, TextWriter? output = null)
    {
        logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.WithProperty("Application", application)
            .Filter.ByExcluding(ServiceStartup.IsToldAsPlainLines);
        if (output is null) logger.WriteTo.Console(new CompactJsonFormatter());
        else logger.WriteTo.Sink(new TextWriterSink(new CompactJsonFormatter(), output));
        if (configuration is not null) logger.ReadFrom.Configuration(configuration);
        return logger;
    }

    /// <summary>A logger for start-up failures, before the host exists.</summary>
    public static Serilog.Core.Logger CreateStartupLogger(string application) => Configure(new LoggerConfiguration(), application).CreateLogger();
}

/// <summary>Writes formatted events to a <see cref="TextWriter"/>, one at a time.</summary>
public sealed class TextWriterSink(Serilog.Formatting.ITextFormatter formatter, TextWriter output) : Serilog.Core.ILogEventSink
{
    private readonly Lock _lock = new();

    public void Emit(LogEvent logEvent)
    {
        lock (_lock)
        {
            formatter.Format(logEvent, output);
            output.Flush();
        }
    }
}
