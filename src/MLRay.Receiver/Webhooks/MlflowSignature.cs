using System.Security.Cryptography;
using System.Text;

namespace MLRay.Receiver.Webhooks;

public enum SignatureCheck { Valid, Missing, Malformed, Mismatch }

/// <summary>
/// MLflow's webhook signature (contract §1.4): <c>v1,</c> + Base64(HMAC-SHA256(key = UTF-8 secret,
/// message = "{delivery id}.{timestamp}.{raw body}")). The secret is used as-is (no base64 decoding).
/// </summary>
public static class MlflowSignature
{
    public const string Prefix = "v1,";
    private const int MacLength = 32;

    /// <summary>The header value MLflow would send for this delivery.</summary>
    public static string Compute(string secret, string deliveryId, string timestamp, ReadOnlySpan<byte> body)
    {
        Span<byte> mac = stackalloc byte[MacLength];
        Mac(secret, deliveryId, timestamp, body, mac);
        return Prefix + Convert.ToBase64String(mac);
    }

    /// <summary>Checks <paramref name="header"/> against the raw body in constant time.</summary>
    public static SignatureCheck Verify(string secret, string deliveryId, string timestamp, ReadOnlySpan<byte> body, string? header)
    {
        if (string.IsNullOrEmpty(header)) return SignatureCheck.Missing;
        if (!header.StartsWith(Prefix, StringComparison.Ordinal)) return SignatureCheck.Malformed;
        var encoded = header.AsSpan(Prefix.Length);
        Span<byte> provided = stackalloc byte[48];
        if (!Convert.TryFromBase64Chars(encoded, provided, out var written) || written != MacLength)
            return SignatureCheck.Malformed;
        Span<byte> expected = stackalloc byte[MacLength];
        Mac(secret, deliveryId, timestamp, body, expected);
        return CryptographicOperations.FixedTimeEquals(expected, provided[..MacLength]) ? SignatureCheck.Valid : SignatureCheck.Mismatch;
    }

    private static void Mac(string secret, string deliveryId, string timestamp, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
        hmac.AppendData(Encoding.UTF8.GetBytes($"{deliveryId}.{timestamp}."));
        hmac.AppendData(body);
        hmac.GetHashAndReset(destination);
    }
}
