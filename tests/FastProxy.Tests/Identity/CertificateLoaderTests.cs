using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastProxy.Identity;

namespace FastProxy.Tests.Identity;

public sealed class CertificateLoaderTests
{
    private const string Password = "pfx-p4ssw0rd-Qq";

    private static readonly X509Certificate2 Rsa = TestCertificates.CreateRsa();

    [Fact]
    public void Pfx_WithoutPassword_Loads()
    {
        using var loaded = CertificateLoader.Load(TestCertificates.Pfx(Rsa), null, "/c.pfx");

        Assert.Equal(Rsa.Thumbprint, loaded.Thumbprint);
        Assert.True(loaded.HasPrivateKey);
    }

    [Fact]
    public void Pfx_WithPassword_Loads()
    {
        using var loaded = CertificateLoader.Load(TestCertificates.Pfx(Rsa, Password), Password, "/c.pfx");

        Assert.Equal(Rsa.Thumbprint, loaded.Thumbprint);
    }

    [Fact]
    public void Pem_CertificateAndKeyInOneFile_Loads()
    {
        using var loaded = CertificateLoader.Load(Encoding.ASCII.GetBytes(TestCertificates.Pem(Rsa)), null, "/c.pem");

        Assert.Equal(Rsa.Thumbprint, loaded.Thumbprint);
        Assert.NotNull(loaded.GetRSAPrivateKey());
    }

    [Fact]
    public void Pem_KeyBeforeCertificate_Loads()
    {
        using var loaded = CertificateLoader.Load(Encoding.ASCII.GetBytes(TestCertificates.PemKeyFirst(Rsa)), null, "/c.pem");

        Assert.Equal(Rsa.Thumbprint, loaded.Thumbprint);
    }

    [Fact]
    public void Pem_EncryptedKeyWithPassword_Loads()
    {
        using var loaded = CertificateLoader.Load(Encoding.ASCII.GetBytes(TestCertificates.EncryptedPem(Rsa, Password)), Password, "/c.pem");

        Assert.Equal(Rsa.Thumbprint, loaded.Thumbprint);
    }

    public static TheoryData<string, Func<byte[]>, string?, string> Unusable => new()
    {
        { "pfx wrong password", () => TestCertificates.Pfx(Rsa, Password), "not-it", "as a PFX the password is wrong or the file is damaged" },
        { "pfx password missing", () => TestCertificates.Pfx(Rsa, Password), null, "needs a password (set AAD_CLIENT_CERTIFICATE_PASSWORD_FILE)" },
        { "not a certificate", () => "hello"u8.ToArray(), null, "could not be read" },
        { "pem without key", () => Encoding.ASCII.GetBytes(Rsa.ExportCertificatePem()), null, "holds no private key; put the certificate and its key in one file" },
        { "pem without certificate", () => Encoding.ASCII.GetBytes(Rsa.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem()), null, "holds no certificate" },
        { "encrypted pem without password", () => Encoding.ASCII.GetBytes(TestCertificates.EncryptedPem(Rsa, Password)), null, "is encrypted; set AAD_CLIENT_CERTIFICATE_PASSWORD_FILE" },
        { "encrypted pem wrong password", () => Encoding.ASCII.GetBytes(TestCertificates.EncryptedPem(Rsa, Password)), "nope", "the password is wrong" },
        { "key of another certificate", () => Encoding.ASCII.GetBytes(Rsa.ExportCertificatePem() + TestCertificates.CreateRsa().GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem()), null, "the key does not belong" },
        { "pfx without key", () => Rsa.Export(X509ContentType.Cert), null, "could not be read" },
        { "ecdsa key", () => TestCertificates.Pfx(TestCertificates.CreateEcdsa()), null, "Entra client assertions are signed with RSA" },
    };

    [Theory]
    [MemberData(nameof(Unusable))]
    public void UnusableFile_IsOneClearMessageWithoutSecrets(string because, Func<byte[]> content, string? password, string expected)
    {
        var error = Assert.Throws<CredentialMaterialException>(() => CertificateLoader.Load(content(), password, "/mnt/secrets/cert"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("/mnt/secrets/cert", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", error.Message.Replace("PRIVATE KEY-----", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.False(error.Message.Contains('\n', StringComparison.Ordinal), because);
    }

    [Fact]
    public void ExpiredCertificate_SaysWhenAndWhatToDo()
    {
        using var expired = TestCertificates.CreateRsa("CN=old", DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(-1));

        var error = Assert.Throws<CredentialMaterialException>(() => CertificateLoader.EnsureValidAt(expired, DateTimeOffset.UtcNow, "/c.pem"));

        Assert.Contains("'CN=old'", error.Message, StringComparison.Ordinal);
        Assert.Contains("expired on", error.Message, StringComparison.Ordinal);
        Assert.Contains("picked up without a restart", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NotYetValidCertificate_IsRefused()
    {
        using var future = TestCertificates.CreateRsa("CN=future", DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(10));

        var error = Assert.Throws<CredentialMaterialException>(() => CertificateLoader.EnsureValidAt(future, DateTimeOffset.UtcNow, "/c.pem"));

        Assert.Contains("is not valid before", error.Message, StringComparison.Ordinal);
    }
}
