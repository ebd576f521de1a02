using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption;
using Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace MLRay.Receiver.Console;

/// <summary>
/// The console's Data Protection key ring (it signs and encrypts the session cookie and the anti-forgery tokens): one key
/// derived from the ops token, so every receiver configured with the same token accepts the others' sessions with nothing
/// shared but the token — several replicas behind a Service or load balancer, restarts, rolling upgrades — and a new
/// token ends every session. Read-only: keys are never generated or written (nothing on disk to share or to leak).
/// </summary>
/// <remarks>
/// The key's XML is the library's own (<see cref="AuthenticatedEncryptorDescriptor.ExportToXml"/>: AES-256-CBC with
/// HMAC-SHA256, a 512-bit master key); only its secret, its id and its dates are fixed here. The master key is HKDF-SHA256
/// of the token, so a session cookie is as hard to forge as the token is to guess: the token must be a long random one.
/// </remarks>
internal sealed class OpsTokenKeyRing(string opsToken) : IXmlRepository
{
    private static readonly byte[] Salt = Encoding.UTF8.GetBytes("mlray-ops-console");
    private static readonly DateTimeOffset Activated = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Expires = new(2200, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly XElement _key = KeyElement(opsToken);

    public static void Use(IDataProtectionBuilder builder, string opsToken)
    {
        builder.Services.Configure<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>(o => o.XmlRepository = new OpsTokenKeyRing(opsToken));
        builder.DisableAutomaticKeyGeneration();
    }

    /// <summary>The key's id, derived like its secret: a cookie made under another token names a key this ring does not have.</summary>
    public static Guid KeyId(string opsToken) => new(Derive(opsToken, "key id", 16));

    public IReadOnlyCollection<XElement> GetAllElements() => [new XElement(_key)];

    public void StoreElement(XElement element, string friendlyName) =>
        throw new InvalidOperationException("the ops console's key ring is derived from the ops token and never stores a key");

    private static byte[] Derive(string opsToken, string purpose, int length) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(opsToken.Trim()), length, Salt, Encoding.UTF8.GetBytes(purpose));

    private static XElement KeyElement(string opsToken)
    {
        var descriptor = new AuthenticatedEncryptorDescriptor(new AuthenticatedEncryptorConfiguration(), new Secret(Derive(opsToken, "master key", 64)))
            .ExportToXml();
        // The <key> element of Data Protection's documented storage format ("Key storage format in ASP.NET Core").
        return new XElement("key",
            new XAttribute("id", KeyId(opsToken)),
            new XAttribute("version", 1),
            new XElement("creationDate", Activated),
            new XElement("activationDate", Activated),
            new XElement("expirationDate", Expires),
            new XElement("descriptor",
                new XAttribute("deserializerType", descriptor.DeserializerType.AssemblyQualifiedName!),
                descriptor.SerializedDescriptorElement));
    }
}
