namespace MLRay.Configuration;

/// <summary><c>smoke_test</c>: whether a new version must answer its serving input example before it counts as running.</summary>
public enum SmokeTestMode
{
    /// <summary>Test when the model has an example; without one the version runs, tagged <c>skipped</c>.</summary>
    WhenExample,
    /// <summary>No example is a permanent failure naming the missing file.</summary>
    Required,
    Off,
}

/// <summary><c>traffic</c>: how MLRay lays out a cluster's Serve apps (docs/serving.md).</summary>
public enum TrafficMode
{
    /// <summary>One app per model at its route; a new version replaces the old in place.</summary>
    Direct,
    /// <summary>One <c>mlray-gateway</c> app owns the routes and calls one app per model version through handles.</summary>
    Gateway,
}

/// <summary>What happens when a rollout's candidate gets too little traffic to judge within <c>rollout.max_wait</c>.</summary>
public enum NoTrafficAction { Promote, Fail }

/// <summary>The gateway app of <c>traffic: gateway</c> (cluster key <c>gateway</c>).</summary>
public sealed record GatewaySettings
{
    public string RoutePrefix { get; init; } = "/";
    public int Replicas { get; init; } = 2;
    public double NumCpus { get; init; } = 0.1;
    /// <summary>The window the gateway's stats cover (and a rollout step judges).</summary>
    public TimeSpan StatsWindow { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>How a new version takes traffic in gateway mode (cluster key <c>rollout</c>; tags <c>ray.rollout.*</c> override steps and interval).</summary>
public sealed record RolloutSettings
{
    /// <summary>Percent of traffic per step; the last is 100. Empty: straight to 100 after the smoke test.</summary>
    public IReadOnlyList<int> Steps { get; init; } = [10, 50, 100];
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(2);
    public int MinRequests { get; init; } = 20;
    /// <summary>Highest error rate (5xx / requests) a candidate may show at a step, as a fraction (0.01 = 1 %).</summary>
    public double MaxErrorRate { get; init; } = 0.01;
    /// <summary>How far the candidate's error rate may exceed the current version's, in fraction points.</summary>
    public double MaxErrorRateIncrease { get; init; } = 0.01;
    /// <summary>How long a step waits for <see cref="MinRequests"/> before <see cref="OnNoTraffic"/> decides.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMinutes(10);
    public NoTrafficAction OnNoTraffic { get; init; } = NoTrafficAction.Promote;
}

/// <summary>Verified serving on one cluster: the smoke test, the traffic layout, the gateway and rollouts.</summary>
public sealed record ServingSettings
{
    public SmokeTestMode SmokeTest { get; init; } = SmokeTestMode.WhenExample;
    public TimeSpan SmokeTestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TrafficMode Traffic { get; init; } = TrafficMode.Direct;
    public GatewaySettings Gateway { get; init; } = new();
    public RolloutSettings Rollout { get; init; } = new();
}
