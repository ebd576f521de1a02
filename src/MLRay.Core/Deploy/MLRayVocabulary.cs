namespace MLRay.Deploy;

/// <summary>
/// The <c>mlray.&lt;cluster&gt;.&lt;field&gt;</c> tags MLRay writes on model versions: their keys, in one place, for the worker
/// that writes them and for everything that reads them (<c>mlray status</c>, the rollback target, the tests).
/// </summary>
public static class MLRayTags
{
    /// <summary>One of <see cref="DeployStatus"/>.</summary>
    public const string Status = "status";
    /// <summary>Why the status is what it is (Ray's or MLRay's words), empty when running.</summary>
    public const string Message = "message";
    /// <summary>The app's URL on the cluster's Serve proxy, while it runs.</summary>
    public const string Endpoint = "endpoint";
    public const string UpdatedAt = "updated_at";
    /// <summary>The version's <see cref="AttemptState"/> as JSON: the retry memory every worker instance shares.</summary>
    public const string Attempt = "attempt";
    /// <summary>The wheel pre-flight's verdict when it is not plainly ok.</summary>
    public const string Preflight = "preflight";
    /// <summary>The last smoke test's verdict: <c>passed 41 ms</c>, <c>failed: HTTP 500 …</c>, <c>skipped: no serving input example</c>.</summary>
    public const string SmokeTest = "smoke_test";
    /// <summary>Gateway mode: the version's rollout (step, weight, since, from) as JSON, a copy of what its attempt tag holds.</summary>
    public const string Rollout = "rollout";

    /// <summary>The tag of a model version's field on a cluster (<c>mlray.&lt;cluster&gt;.&lt;field&gt;</c>).</summary>
    public static string Key(string cluster, string field) => $"mlray.{cluster}.{field}";
}

/// <summary>The values of <c>mlray.&lt;cluster&gt;.status</c>; those <c>mlray status</c> shows too are the same strings.</summary>
public static class DeployStatus
{
    public const string Deploying = "DEPLOYING";
    public const string Running = "RUNNING";
    /// <summary>Gateway mode: verified, taking a share of its route's traffic (the weight is in the message).</summary>
    public const string RollingOut = "ROLLING_OUT";
    public const string Failed = "FAILED";
    public const string Undeployed = "UNDEPLOYED";
    /// <summary>The model has no <c>ray.*</c> tags yet (<see cref="AttemptPhase.Pending"/>).</summary>
    public const string Pending = "PENDING";
}

/// <summary>Where a selected model version stands, as <c>mlray status</c> counts it.</summary>
public static class ModelStatus
{
    public const string Running = DeployStatus.Running;
    public const string RollingOut = DeployStatus.RollingOut;
    public const string Deploying = DeployStatus.Deploying;
    public const string Failed = DeployStatus.Failed;
    public const string DeadLettered = "DEAD-LETTERED";
    public const string Pending = DeployStatus.Pending;
    public const string NotDeployed = "NOT DEPLOYED";
    public const string Unroutable = "UNROUTABLE";

    /// <summary>Every status, in the order the counts are shown.</summary>
    public static readonly IReadOnlyList<string> All = [Running, RollingOut, Deploying, Failed, DeadLettered, Pending, NotDeployed, Unroutable];
}

/// <summary>Why a (model version, cluster) was given up on.</summary>
public static class FailureClass
{
    /// <summary>Ray could not install or start it (<c>DEPLOY_FAILED</c>, <c>UNHEALTHY</c>, or still deploying at the deadline) on every attempt.</summary>
    public const string Install = "install";
    /// <summary>Ray ran it, but it did not answer its serving input example (the smoke test) on every attempt.</summary>
    public const string Verify = "verify";
    /// <summary>It passed its smoke test, but the gateway's stats stopped its rollout (errors, or no traffic with on_no_traffic: fail).</summary>
    public const string Rollout = "rollout";
    /// <summary>Retrying cannot help: an invalid tag, an unreadable or missing environment file, an unsupported artifact scheme.</summary>
    public const string Permanent = "permanent";
    /// <summary>No cluster serves its Python (the router parks these in <c>mlray.unroutable</c>).</summary>
    public const string Unroutable = "unroutable";
}
