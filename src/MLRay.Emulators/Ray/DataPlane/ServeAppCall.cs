namespace MLRay.Emulators.Ray;

/// <summary>
/// One call of a Serve app in the emulated data plane: by the proxy (a client's request on the app's route; <see cref="Gateway"/>
/// null), or by a gateway app through a handle (a version app; real or shadow copy).
/// </summary>
/// <param name="App">The app called.</param>
/// <param name="Model">Its <c>args.mlray_model</c> (else the name in its <c>models:/</c> URI; for a gateway's call of an app
/// that does not serve, the routing table's model); null for an app that is not a model app.</param>
/// <param name="Version">Likewise <c>args.mlray_version</c>.</param>
/// <param name="Status">What the caller got: the app's status, 502 when a gateway's call failed (no such app, no running
/// replica, past <see cref="RayEmulatorOptions.GatewayCallTimeout"/>), 0 when the client gave up first.</param>
public sealed record ServeAppCall(string App, string? Model, string? Version, int Status)
{
    /// <summary>The gateway app that called (through a handle); null for a call by the proxy.</summary>
    public string? Gateway { get; init; }

    /// <summary>The gateway's route the request matched (e.g. <c>/fraud</c>); null for a call by the proxy.</summary>
    public string? Route { get; init; }

    /// <summary>The client pinned this version (header <c>mlray-version</c>).</summary>
    public bool Pinned { get; init; }

    /// <summary>A shadow copy (its answer was discarded).</summary>
    public bool Shadow { get; init; }

    /// <summary>When the call was answered (by <see cref="RayEmulatorOptions.TimeProvider"/>).</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>How long the call took, in real time.</summary>
    public TimeSpan Latency { get; init; }
}
