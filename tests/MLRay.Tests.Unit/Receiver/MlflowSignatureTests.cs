using System.Text;
using MLRay.Receiver.Webhooks;
using static MLRay.Testing.MlflowTestVector;

namespace MLRay.Tests.Receiver;

public sealed class MlflowSignatureTests
{
    [Fact]
    public void Compute_matches_the_contract_test_vector()
    {
        var body = Encoding.UTF8.GetBytes(VectorBody);
        Assert.Equal(275, body.Length);
        Assert.Equal(VectorSignature, MlflowSignature.Compute(VectorSecret, VectorDeliveryId, VectorTimestamp, body));
        Assert.Equal(SignatureCheck.Valid, MlflowSignature.Verify(VectorSecret, VectorDeliveryId, VectorTimestamp, body, VectorSignature));
    }

    [Fact]
    public void Verify_rejects_any_change_to_body_id_timestamp_or_secret()
    {
        var body = Encoding.UTF8.GetBytes(VectorBody);
        var tampered = (byte[])body.Clone();
        tampered[100] ^= 0x01;
        Assert.Equal(SignatureCheck.Mismatch, MlflowSignature.Verify(VectorSecret, VectorDeliveryId, VectorTimestamp, tampered, VectorSignature));
        Assert.Equal(SignatureCheck.Mismatch, MlflowSignature.Verify(VectorSecret, VectorDeliveryId, "1755600001", body, VectorSignature));
        Assert.Equal(SignatureCheck.Mismatch, MlflowSignature.Verify(VectorSecret, "6f1c2a9e-3b7d-4c15-9e2a-0d4b8f7a1c56", VectorTimestamp, body, VectorSignature));
        Assert.Equal(SignatureCheck.Mismatch, MlflowSignature.Verify("whsec-demo-please-changE", VectorDeliveryId, VectorTimestamp, body, VectorSignature));
        // A trailing newline is a different body: the signature covers the raw bytes.
        Assert.Equal(SignatureCheck.Mismatch, MlflowSignature.Verify(VectorSecret, VectorDeliveryId, VectorTimestamp, [.. body, (byte)'\n'], VectorSignature));
    }

    [Theory]
    [InlineData(null, SignatureCheck.Missing)]
    [InlineData("", SignatureCheck.Missing)]
    [InlineData("Yu6RaOej6kx7FuifnQa0YIwbnJfmjdBd7iwoXIDO3hs=", SignatureCheck.Malformed)]                // no prefix
    [InlineData("v2,Yu6RaOej6kx7FuifnQa0YIwbnJfmjdBd7iwoXIDO3hs=", SignatureCheck.Malformed)]             // other version
    [InlineData("V1,Yu6RaOej6kx7FuifnQa0YIwbnJfmjdBd7iwoXIDO3hs=", SignatureCheck.Malformed)]             // prefix is case-sensitive
    [InlineData("v1,not base64!", SignatureCheck.Malformed)]
    [InlineData("v1,Yu6RaOej6kx7FuifnQa0YIwbnJfmjdBd7iwoXIDO3g==", SignatureCheck.Malformed)]              // 31 bytes
    [InlineData("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", SignatureCheck.Mismatch)]
    [InlineData("v1,Yu6RaOej6kx7FuifnQa0YIwbnJfmjdBd7iwoXIDO3hs=", SignatureCheck.Valid)]
    public void Verify_classifies_header_values(string? header, SignatureCheck expected)
    {
        Assert.Equal(expected, MlflowSignature.Verify(VectorSecret, VectorDeliveryId, VectorTimestamp, Encoding.UTF8.GetBytes(VectorBody), header));
    }

    [Fact]
    public void Verify_rejects_the_pre_release_sha256_hex_scheme()
    {
        // The never-shipped design: sha256=<hex of HMAC over the body alone>.
        var body = Encoding.UTF8.GetBytes(VectorBody);
        var hex = Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(VectorSecret), body));
        Assert.Equal(SignatureCheck.Malformed, MlflowSignature.Verify(VectorSecret, VectorDeliveryId, VectorTimestamp, body, "sha256=" + hex));
    }

    [Fact]
    public void Compute_uses_the_utf8_secret_as_is_and_raw_non_ascii_body_bytes()
    {
        // Secret not base64-decoded, no whsec_ handling; body bytes signed as received (raw UTF-8 é here).
        var body = Encoding.UTF8.GetBytes("""{"entity": "registered_model", "action": "created", "timestamp": "t", "data": {"name": "caf\u00e9.staging", "description": "é"}}""");
        var expected = "v1," + Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(
            Encoding.UTF8.GetBytes("clé"), Encoding.UTF8.GetBytes("id.1.").Concat(body).ToArray()));
        Assert.Equal(expected, MlflowSignature.Compute("clé", "id", "1", body));
    }
}
