using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>Application certificates and projected tokens made at test time, in the forms the files take.</summary>
internal static class TestClientCertificates
{
    public static X509Certificate2 Create(string subject, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(30));
    }

    public static byte[] Pfx(X509Certificate2 certificate, string? password = null) =>
        certificate.Export(X509ContentType.Pkcs12, password);

    public static string Pem(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPrivateKey();
        return certificate.ExportCertificatePem() + "\n" + rsa!.ExportPkcs8PrivateKeyPem() + "\n";
    }

    /// <summary>A slice of the private key's PEM body: if any of it reaches a log, the key leaked.</summary>
    public static string PrivateKeyFragment(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPrivateKey();
        var body = rsa!.ExportPkcs8PrivateKeyPem().Split('\n')[5];
        return body[..40];
    }

    /// <summary>Shaped like a Kubernetes service-account token (three base64url parts), unique per call.</summary>
    public static string FakeServiceAccountToken(string label)
    {
        static string Part(string json) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json));
        return Part("{\"alg\":\"RS256\",\"kid\":\"test\"}") + "." +
               Part($"{{\"aud\":[\"api://AzureADTokenExchange\"],\"sub\":\"system:serviceaccount:monitoring:prometheus\",\"label\":\"{label}\",\"jti\":\"{Guid.NewGuid():N}\"}}") + "." +
               Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(64));
    }
}
