using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FastProxy.Tests.Identity;

/// <summary>Self-signed client certificates made at test time, in the file forms operators use.</summary>
internal static class TestCertificates
{
    public static X509Certificate2 CreateRsa(string subject = "CN=fastproxy-test", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(30));
    }

    public static X509Certificate2 CreateEcdsa(string subject = "CN=fastproxy-ec")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    public static byte[] Pfx(X509Certificate2 certificate, string? password = null) =>
        certificate.Export(X509ContentType.Pkcs12, password);

    /// <summary>Certificate then unencrypted PKCS#8 key in one file, as cert-manager and the CSI driver write them.</summary>
    public static string Pem(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPrivateKey();
        return certificate.ExportCertificatePem() + "\n" + rsa!.ExportPkcs8PrivateKeyPem() + "\n";
    }

    /// <summary>Key first, then certificate: order within the file must not matter.</summary>
    public static string PemKeyFirst(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPrivateKey();
        return rsa!.ExportRSAPrivateKeyPem() + "\n" + certificate.ExportCertificatePem() + "\n";
    }

    public static string EncryptedPem(X509Certificate2 certificate, string password)
    {
        using var rsa = certificate.GetRSAPrivateKey();
        var key = rsa!.ExportEncryptedPkcs8PrivateKeyPem(password.AsSpan(),
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000));
        return certificate.ExportCertificatePem() + "\n" + key + "\n";
    }
}
