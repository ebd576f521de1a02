namespace MLRay.Telemetry;

/// <summary>Health-check tags the hosts' probes select on.</summary>
public static class HealthTags
{
    /// <summary>What <c>/readyz</c> requires (MassTransit tags its bus and endpoint checks so too).</summary>
    public const string Ready = "ready";
}
