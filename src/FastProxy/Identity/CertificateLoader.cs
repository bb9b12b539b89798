using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace FastProxy.Identity;

/// <summary>
/// Turns the bytes of AAD_CLIENT_CERTIFICATE_PATH into a certificate with its private key: PFX
/// (PKCS#12, optionally with a password) or PEM holding the certificate and its key in one file,
/// as the CSI secret-store driver and cert-manager write them. Every problem is a
/// <see cref="CredentialMaterialException"/> saying what to change; the password and key never
/// appear in one.
/// </summary>
internal static class CertificateLoader
{
    public static X509Certificate2 Load(byte[] content, string? password, string path)
    {
        var certificate = LooksLikePem(content) ? LoadPem(content, password, path) : LoadPfx(content, password, path);
        try
        {
            if (!certificate.HasPrivateKey)
            {
                throw new CredentialMaterialException($"certificate file {path} holds no private key; the PFX or PEM must contain the certificate and its key");
            }

            using var rsa = certificate.GetRSAPrivateKey();
            if (rsa is null)
            {
                throw new CredentialMaterialException(
                    $"certificate {Describe(certificate)} in {path} has a {certificate.PublicKey.Oid.FriendlyName ?? certificate.PublicKey.Oid.Value} key; Entra client assertions are signed with RSA, so use an RSA certificate");
            }

            return certificate;
        }
        catch
        {
            certificate.Dispose();
            throw;
        }
    }

    /// <summary>Throws when <paramref name="certificate"/> is not valid at <paramref name="now"/>: Entra would refuse the assertion anyway.</summary>
    public static void EnsureValidAt(X509Certificate2 certificate, DateTimeOffset now, string path)
    {
        if (certificate.NotAfter.ToUniversalTime() <= now.UtcDateTime)
        {
            throw new CredentialMaterialException(
                $"certificate {Describe(certificate)} in {path} expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}; put a renewed certificate in the file (it is picked up without a restart)");
        }

        if (certificate.NotBefore.ToUniversalTime() > now.UtcDateTime)
        {
            throw new CredentialMaterialException(
                $"certificate {Describe(certificate)} in {path} is not valid before {certificate.NotBefore.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}; check the clock or the certificate");
        }
    }

    /// <summary>Subject and SHA-256 thumbprint: enough to find the certificate in the app registration, nothing secret.</summary>
    public static string Describe(X509Certificate2 certificate) =>
        $"'{certificate.Subject}' (SHA-256 thumbprint {Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256))})";

    private static bool LooksLikePem(byte[] content) =>
        content.AsSpan().IndexOf("-----BEGIN "u8) >= 0;

    private static X509Certificate2 LoadPfx(byte[] content, string? password, string path)
    {
        try
        {
            // Ephemeral: the key lives in memory only; nothing is written to a key store on disk.
            return X509CertificateLoader.LoadPkcs12(content, password, X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (CryptographicException ex)
        {
            var hint = password is null
                ? "it is not a PEM file, and as a PFX it needs a password (set AAD_CLIENT_CERTIFICATE_PASSWORD_FILE) or is damaged"
                : "it is not a PEM file, and as a PFX the password is wrong or the file is damaged";
            throw new CredentialMaterialException($"certificate file {path} could not be read: {hint}", ex);
        }
    }

    private static X509Certificate2 LoadPem(byte[] content, string? password, string path)
    {
        var text = Encoding.ASCII.GetString(content);
        if (!text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            throw new CredentialMaterialException($"PEM file {path} holds no certificate (no BEGIN CERTIFICATE block); put the certificate and its key in one file");
        }

        var encrypted = text.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        if (!encrypted && !text.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new CredentialMaterialException($"PEM file {path} holds no private key; put the certificate and its key in one file");
        }

        if (encrypted && password is null)
        {
            throw new CredentialMaterialException($"the private key in PEM file {path} is encrypted; set AAD_CLIENT_CERTIFICATE_PASSWORD_FILE (or AAD_CLIENT_CERTIFICATE_PASSWORD)");
        }

        try
        {
            // The first certificate is the leaf (PEM bundles list it first); the key must match it.
            return encrypted
                ? X509Certificate2.CreateFromEncryptedPem(text, text, password)
                : X509Certificate2.CreateFromPem(text, text);
        }
        catch (CryptographicException ex)
        {
            var hint = encrypted ? "the password is wrong or the key does not belong to the certificate" : "the key does not belong to the first certificate, or a block is damaged";
            throw new CredentialMaterialException($"PEM file {path} could not be read: {hint}", ex);
        }
    }
}
