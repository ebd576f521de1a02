using System.Globalization;

namespace MLRay.Configuration;

public static partial class ConfigLoader
{
    /// <summary>The cluster keys of verified serving: <c>smoke_test</c>, <c>smoke_test_timeout</c>, <c>traffic</c>, <c>gateway</c>, <c>rollout</c>.</summary>
    private static ServingSettings ReadServing(Node node, Problems problems)
    {
        var defaults = new ServingSettings();
        return new ServingSettings
        {
            SmokeTest = problems.Check(() => node.OptionalString("smoke_test")?.Trim().ToLowerInvariant() switch
            {
                null => defaults.SmokeTest,
                "when-example" => SmokeTestMode.WhenExample,
                "required" => SmokeTestMode.Required,
                "off" or "false" => SmokeTestMode.Off,
                var other => throw new ConfigException(node.PathOf("smoke_test"), $"'{other}' is not when-example, required or off"),
            }),
            SmokeTestTimeout = problems.Check(() => node.OptionalDuration("smoke_test_timeout")) ?? defaults.SmokeTestTimeout,
            Traffic = problems.Check(() => node.OptionalString("traffic")?.Trim().ToLowerInvariant() switch
            {
                null => defaults.Traffic,
                "direct" => TrafficMode.Direct,
                "gateway" => TrafficMode.Gateway,
                var other => throw new ConfigException(node.PathOf("traffic"), $"'{other}' is not direct or gateway"),
            }),
            Gateway = node.Child("gateway") is { } gateway ? ReadGateway(gateway, problems) : defaults.Gateway,
            Rollout = node.Child("rollout") is { } rollout ? ReadRollout(rollout, problems) : defaults.Rollout,
        };
    }

    private static GatewaySettings ReadGateway(Node node, Problems problems)
    {
        problems.Check(() => node.RefuseUnknownKeys("route_prefix", "replicas", "num_cpus", "stats_window"));
        var d = new GatewaySettings();
        return new GatewaySettings
        {
            RoutePrefix = problems.Check(() => node.OptionalString("route_prefix") is not { } p ? d.RoutePrefix
                : p.StartsWith('/') && !p.Contains(' ') ? p
                : throw new ConfigException(node.PathOf("route_prefix"), $"'{p}' is not a route prefix (it starts with '/')")) ?? d.RoutePrefix,
            Replicas = problems.Check(() => Count(node, "replicas")) ?? d.Replicas,
            NumCpus = problems.Check(() => node.OptionalString("num_cpus") is not { } c ? d.NumCpus
                : double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 64 ? n
                : throw new ConfigException(node.PathOf("num_cpus"), $"'{c}' is not a number of CPUs above 0")),
            StatsWindow = problems.Check(() => node.OptionalDuration("stats_window")) ?? d.StatsWindow,
        };
    }

    private static RolloutSettings ReadRollout(Node node, Problems problems)
    {
        problems.Check(() => node.RefuseUnknownKeys("steps", "interval", "min_requests", "max_error_rate", "max_wait", "on_no_traffic"));
        var d = new RolloutSettings();
        return new RolloutSettings
        {
            Steps = problems.Check(() => node.Child("steps") is { } steps
                ? ParseRolloutSteps(string.Join(",", steps.StringList())) ?? throw new ConfigException(node.PathOf("steps"), RolloutStepsProblem)
                : null) ?? d.Steps,
            Interval = problems.Check(() => node.OptionalDuration("interval")) ?? d.Interval,
            MinRequests = problems.Check(() => node.OptionalString("min_requests") is not { } m ? d.MinRequests
                : int.TryParse(m, out var n) && n >= 0 ? n
                : throw new ConfigException(node.PathOf("min_requests"), $"'{m}' is not a whole number of requests")),
            MaxErrorRate = problems.Check(() => node.OptionalString("max_error_rate") is not { } r ? d.MaxErrorRate
                : ParsePercent(r) ?? throw new ConfigException(node.PathOf("max_error_rate"), $"'{r}' is not a percentage such as 1% or 0.5%")),
            MaxWait = problems.Check(() => node.OptionalDuration("max_wait")) ?? d.MaxWait,
            OnNoTraffic = problems.Check(() => node.OptionalString("on_no_traffic")?.Trim().ToLowerInvariant() switch
            {
                null => d.OnNoTraffic,
                "promote" => NoTrafficAction.Promote,
                "fail" => NoTrafficAction.Fail,
                var other => throw new ConfigException(node.PathOf("on_no_traffic"), $"'{other}' is not promote or fail"),
            }),
        };
    }

    public const string RolloutStepsProblem = "is not a list of rising whole percentages from 1 to 100 ending at 100 (e.g. 10,50,100), or empty for straight to 100";

    /// <summary><c>10,50,100</c> (also from a YAML list) → the steps; empty → none (straight to 100); null when malformed.</summary>
    public static IReadOnlyList<int>? ParseRolloutSteps(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var steps = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part.TrimEnd('%'), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 100) return null;
            if (steps.Count > 0 && n <= steps[^1]) return null;
            steps.Add(n);
        }
        return steps.Count == 0 || steps[^1] == 100 ? steps : null;
    }

    /// <summary><c>1%</c> or <c>0.01</c> → 0.01.</summary>
    private static double? ParsePercent(string text)
    {
        text = text.Trim();
        var percent = text.EndsWith('%');
        return double.TryParse(text.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? (percent ? n / 100 : n) is var f and <= 1 ? f : null
            : null;
    }
}
