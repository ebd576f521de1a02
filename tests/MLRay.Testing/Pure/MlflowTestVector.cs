namespace MLRay.Testing;

/// <summary>The webhook test vector of contracts/mlflow.md §1.4 (verified with Python's hmac module).</summary>
internal static class MlflowTestVector
{
    public const string VectorSecret = "whsec-demo-please-change";
    public const string VectorDeliveryId = "6f1c2a9e-3b7d-4c15-9e2a-0d4b8f7a1c55";
    public const string VectorTimestamp = "1755600000";
    public const string VectorBody = """{"entity": "model_version", "action": "created", "timestamp": "2025-08-19T10:40:00.123456+00:00", "data": {"name": "fraud.staging", "version": "3", "source": "models:/m-0123456789abcdef0123456789abcdef", "run_id": null, "tags": {"deploy.target": "ray"}, "description": null}}""";
    public const string VectorSignature = "v1,Yu6RaOej6kx7FuifnQa0YIwbnJfmjdBd7iwoXIDO3hs=";
}
