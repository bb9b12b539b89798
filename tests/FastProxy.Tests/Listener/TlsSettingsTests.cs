using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FastProxy.Configuration;
using FastProxy.Tests.Support;
using FastProxy.Tests.Identity;

namespace FastProxy.Tests.Listener;

/// <summary>TLS_CERT_FILE, TLS_KEY_FILE, TLS_KEY_PASSWORD_FILE and TLS_CLIENT_CA_FILE: read, checked at start-up, one clear line per problem.</summary>
public sealed class TlsSettingsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-tls-settings-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static ConfigurationResult Load(params (string Name, string Value)[] extra) => ConfigurationFixture.LoadIngestion(extra);

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static string KeyPem(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPrivateKey();
        return rsa!.ExportPkcs8PrivateKeyPem() + "\n";
    }

    private (string Certificate, string Key) PemPair(X509Certificate2 certificate) =>
        (WriteFile("tls.crt", certificate.ExportCertificatePem() + "\n"), WriteFile("tls.key", KeyPem(certificate)));

    private static string SingleError(ConfigurationResult result, string setting)
    {
        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith(setting + " ", error, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public void CertificateAndKeyFiles_TurnTlsOn()
    {
        using var certificate = TestCertificates.CreateRsa("CN=fastproxy.monitoring.svc");
        var (certificateFile, keyFile) = PemPair(certificate);

        var result = Load(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var tls = result.Options!.Security.Tls!;
        Assert.Equal(certificateFile, tls.CertificateFile);
        Assert.Equal(keyFile, tls.KeyFile);
        Assert.False(tls.RequiresClientCertificate);
        // TLS alone authenticates the server, not the client.
        Assert.False(result.Options.Security.HasInboundProtection);
    }

    [Fact]
    public void OnePemWithCertificateAndKey_NeedsNoKeyFile()
    {
        using var certificate = TestCertificates.CreateRsa();

        var result = Load(("TLS_CERT_FILE", WriteFile("combined.pem", TestCertificates.Pem(certificate))));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Null(result.Options!.Security.Tls!.KeyFile);
    }

    [Fact]
    public void EcdsaCertificate_IsAccepted()
    {
        using var certificate = TestCertificates.CreateEcdsa();
        using var key = certificate.GetECDsaPrivateKey();

        var result = Load(("TLS_CERT_FILE", WriteFile("ec.crt", certificate.ExportCertificatePem())), ("TLS_KEY_FILE", WriteFile("ec.key", key!.ExportPkcs8PrivateKeyPem())));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
    }

    [Fact]
    public void ClientCaFile_RequiresClientCertificates_AndCountsAsInboundProtection()
    {
        using var certificate = TestCertificates.CreateRsa();
        using var ca = TestCertificates.CreateRsa("CN=client-ca");
        var (certificateFile, keyFile) = PemPair(certificate);

        var result = Load(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile), ("TLS_CLIENT_CA_FILE", WriteFile("ca.crt", ca.ExportCertificatePem())));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.True(result.Options!.Security.Tls!.RequiresClientCertificate);
        Assert.True(result.Options.Security.HasInboundProtection);
        Assert.Contains("client certificates: required", string.Join("\n", result.Options.Describe()), StringComparison.Ordinal);
    }

    [Fact]
    public void EncryptedKey_WithItsPasswordFile_IsAccepted_AndThePasswordNeverDescribed()
    {
        using var certificate = TestCertificates.CreateRsa();
        var pem = TestCertificates.EncryptedPem(certificate, "key-pass-123");

        var result = Load(("TLS_CERT_FILE", WriteFile("enc.pem", pem)), ("TLS_KEY_PASSWORD_FILE", WriteFile("pass", "key-pass-123\n")));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.DoesNotContain("key-pass-123", string.Join("\n", result.Options!.Describe()), StringComparison.Ordinal);
    }

    [Fact]
    public void Pfx_WithPasswordFile_IsAccepted()
    {
        using var certificate = TestCertificates.CreateRsa();
        var pfx = Path.Combine(_directory, "tls.pfx");
        File.WriteAllBytes(pfx, TestCertificates.Pfx(certificate, "pfx-pass"));

        var result = Load(("TLS_CERT_FILE", pfx), ("TLS_KEY_PASSWORD_FILE", WriteFile("pass", "pfx-pass")));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
    }

    [Fact]
    public void MissingCertificateFile_IsAConfigurationError()
    {
        var path = Path.Combine(_directory, "absent.crt");

        var error = SingleError(Load(("TLS_CERT_FILE", path)), "TLS_CERT_FILE");

        Assert.Equal($"TLS_CERT_FILE file {path} does not exist; mount the TLS Secret there or correct the path", error);
    }

    [Fact]
    public void CertificateWithoutKey_AsksForTheKeyFile()
    {
        using var certificate = TestCertificates.CreateRsa();

        var error = SingleError(Load(("TLS_CERT_FILE", WriteFile("only.crt", certificate.ExportCertificatePem()))), "TLS_CERT_FILE");

        Assert.Contains("holds no private key; set TLS_KEY_FILE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyOfAnotherCertificate_NamesTheKeyFile()
    {
        using var certificate = TestCertificates.CreateRsa();
        using var other = TestCertificates.CreateRsa("CN=other");
        var certificateFile = WriteFile("tls.crt", certificate.ExportCertificatePem());
        var keyFile = WriteFile("tls.key", KeyPem(other));

        var error = SingleError(Load(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile)), "TLS_KEY_FILE");

        Assert.Contains("does not belong to the first certificate", error, StringComparison.Ordinal);
    }

    [Fact]
    public void EncryptedKeyWithoutPassword_AsksForThePasswordFile()
    {
        using var certificate = TestCertificates.CreateRsa();

        var error = SingleError(Load(("TLS_CERT_FILE", WriteFile("enc.pem", TestCertificates.EncryptedPem(certificate, "p")))), "TLS_CERT_FILE");

        Assert.Contains("is encrypted; set TLS_KEY_PASSWORD_FILE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void PfxWithWrongPassword_SaysSo_WithoutThePassword()
    {
        using var certificate = TestCertificates.CreateRsa();
        var pfx = Path.Combine(_directory, "tls.pfx");
        File.WriteAllBytes(pfx, TestCertificates.Pfx(certificate, "right"));

        var error = SingleError(Load(("TLS_CERT_FILE", pfx), ("TLS_KEY_PASSWORD_FILE", WriteFile("pass", "wrong-guess"))), "TLS_CERT_FILE");

        Assert.Contains("the password is wrong or the file is damaged", error, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-guess", error, StringComparison.Ordinal);
    }

    [Fact]
    public void PfxWithAKeyFile_IsRefused()
    {
        using var certificate = TestCertificates.CreateRsa();
        var pfx = Path.Combine(_directory, "tls.pfx");
        File.WriteAllBytes(pfx, TestCertificates.Pfx(certificate));

        var error = SingleError(Load(("TLS_CERT_FILE", pfx), ("TLS_KEY_FILE", WriteFile("tls.key", KeyPem(certificate)))), "TLS_KEY_FILE");

        Assert.Contains("a PFX holds its own key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ClientOnlyCertificate_IsNotAServerCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=client-only", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        var error = SingleError(Load(("TLS_CERT_FILE", WriteFile("client.pem", TestCertificates.Pem(certificate)))), "TLS_CERT_FILE");

        Assert.Contains("is not for servers", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("no certificates here\n")]
    public void ClientCaFileWithoutCertificates_IsAConfigurationError(string content)
    {
        using var certificate = TestCertificates.CreateRsa();
        var (certificateFile, keyFile) = PemPair(certificate);

        var error = SingleError(Load(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile), ("TLS_CLIENT_CA_FILE", WriteFile("ca.crt", content))),
            "TLS_CLIENT_CA_FILE");

        Assert.Contains(content.Length == 0 ? "is empty" : "holds no certificate", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TLS_KEY_FILE")]
    [InlineData("TLS_KEY_PASSWORD_FILE")]
    [InlineData("TLS_CLIENT_CA_FILE")]
    public void TlsFileWithoutCertificate_IsAConfigurationError(string setting)
    {
        var error = SingleError(Load((setting, WriteFile("x", "x"))), setting);

        Assert.Contains("needs TLS_CERT_FILE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void H2cPortWithTls_IsRefused()
    {
        using var certificate = TestCertificates.CreateRsa();
        var (certificateFile, keyFile) = PemPair(certificate);

        var error = SingleError(Load(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile), ("H2C_PORT", "8082")), "H2C_PORT");

        Assert.Contains("the TLS port offers HTTP/2 itself", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Flags_OverrideTheEnvironment()
    {
        using var certificate = TestCertificates.CreateRsa();
        var (certificateFile, keyFile) = PemPair(certificate);
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = "myws-abcd.eastus-1.metrics.ingest.monitor.azure.com",
            ["TLS_CERT_FILE"] = Path.Combine(_directory, "absent"),
        };
        var flags = new Dictionary<Setting, string?> { [Settings.TlsCertFile] = certificateFile, [Settings.TlsKeyFile] = keyFile };

        var result = new ConfigurationLoader(flags, name => environment.GetValueOrDefault(name)).Load();

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(certificateFile, result.Options!.Security.Tls!.CertificateFile);
    }
}
