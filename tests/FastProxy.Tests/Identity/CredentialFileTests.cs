using System.Security.Cryptography.X509Certificates;
using Azure.Core;
using Azure.Identity;
using FastProxy.Configuration;
using FastProxy.Identity;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Identity;

/// <summary>
/// The wrappers that rebuild an Azure.Identity credential when its files change. The inner
/// credential is scripted here (what is under test is when it is rebuilt and with what); the
/// integration tests run the real ClientCertificateCredential against a loopback Entra.
/// </summary>
public sealed class CredentialFileTests : IDisposable
{
    private static readonly TokenRequestContext Request = new(["https://monitor.azure.com/.default"]);

    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-identity-").FullName;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly List<X509Certificate2> _built = [];
    private readonly List<string> _secrets = [];
    private readonly CapturingLogger _logger = new();

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    private CertificateFileCredential CertificateCredential(string path, SecretSource? password = null) =>
        new(path, password, certificate =>
        {
            _built.Add(certificate);
            return new ScriptedCredential().ThenAlways(() => new AccessToken("token-for-" + certificate.Thumbprint, DateTimeOffset.UtcNow.AddHours(1)));
        }, _time) { Logger = _logger };

    [Fact]
    public async Task Certificate_IsLoadedOnceWhileTheFileIsUnchanged()
    {
        var cert = TestCertificates.CreateRsa();
        var path = PathOf("cert.pem");
        await File.WriteAllTextAsync(path, TestCertificates.Pem(cert));
        using var credential = CertificateCredential(path);

        var first = await credential.GetTokenAsync(Request, CancellationToken.None);
        var second = await credential.GetTokenAsync(Request, CancellationToken.None);

        Assert.Equal("token-for-" + cert.Thumbprint, first.Token);
        Assert.Equal(first.Token, second.Token);
        Assert.Equal(1, credential.Loads);
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 210 && e.Message.Contains("CN=fastproxy-test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Certificate_ReplacedFile_IsUsedForTheNextToken()
    {
        var path = PathOf("cert.pfx");
        await File.WriteAllBytesAsync(path, TestCertificates.Pfx(TestCertificates.CreateRsa("CN=first")));
        using var credential = CertificateCredential(path);
        await credential.GetTokenAsync(Request, CancellationToken.None);

        var renewed = TestCertificates.CreateRsa("CN=renewed");
        // As the CSI driver does: write beside, then swap in.
        await File.WriteAllBytesAsync(path + ".new", TestCertificates.Pfx(renewed));
        File.Move(path + ".new", path, overwrite: true);
        var token = await credential.GetTokenAsync(Request, CancellationToken.None);

        Assert.Equal("token-for-" + renewed.Thumbprint, token.Token);
        Assert.Equal(2, credential.Loads);
        Assert.Equal(renewed.Thumbprint, credential.Certificate!.Thumbprint);
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 211 && e.Message.Contains("CN=renewed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Certificate_PasswordFileChange_ReloadsTheCertificate()
    {
        var cert = TestCertificates.CreateRsa();
        var path = PathOf("cert.pfx");
        var passwordPath = PathOf("password");
        await File.WriteAllBytesAsync(path, TestCertificates.Pfx(cert, "one"));
        await File.WriteAllTextAsync(passwordPath, "one\n");
        using var credential = CertificateCredential(path, SecretSource.FromFile(passwordPath, "AAD_CLIENT_CERTIFICATE_PASSWORD_FILE"));
        await credential.GetTokenAsync(Request, CancellationToken.None);

        await File.WriteAllBytesAsync(path, TestCertificates.Pfx(cert, "two"));
        await File.WriteAllTextAsync(passwordPath, "two");
        await credential.GetTokenAsync(Request, CancellationToken.None);

        Assert.Equal(2, credential.Loads);
    }

    [Fact]
    public async Task Certificate_MissingFile_IsAClearFailure_AndRecoveryNeedsNoRestart()
    {
        var path = PathOf("not-yet-mounted.pem");
        using var credential = CertificateCredential(path);

        var error = await Assert.ThrowsAsync<CredentialMaterialException>(() => credential.GetTokenAsync(Request, CancellationToken.None).AsTask());
        Assert.Equal($"AAD_CLIENT_CERTIFICATE_PATH file {path} does not exist; check the path and that the volume holding it is mounted", error.Message);

        await File.WriteAllTextAsync(path, TestCertificates.Pem(TestCertificates.CreateRsa()));
        await credential.GetTokenAsync(Request, CancellationToken.None);
        Assert.Equal(1, credential.Loads);
    }

    [Fact]
    public async Task Certificate_DamagedReplacement_FailsUntilFixed()
    {
        var path = PathOf("cert.pem");
        await File.WriteAllTextAsync(path, TestCertificates.Pem(TestCertificates.CreateRsa()));
        using var credential = CertificateCredential(path);
        await credential.GetTokenAsync(Request, CancellationToken.None);

        await File.WriteAllTextAsync(path, "-----BEGIN CERTIFICATE-----\ntruncated");
        await Assert.ThrowsAsync<CredentialMaterialException>(() => credential.GetTokenAsync(Request, CancellationToken.None).AsTask());

        var fixedCert = TestCertificates.CreateRsa("CN=fixed");
        await File.WriteAllTextAsync(path, TestCertificates.Pem(fixedCert));
        var token = await credential.GetTokenAsync(Request, CancellationToken.None);
        Assert.Equal("token-for-" + fixedCert.Thumbprint, token.Token);
    }

    [Fact]
    public async Task Certificate_ThatExpiresWhileLoaded_IsReportedAsExpired()
    {
        var path = PathOf("cert.pem");
        await File.WriteAllTextAsync(path, TestCertificates.Pem(TestCertificates.CreateRsa("CN=short", DateTimeOffset.UtcNow.AddDays(-1), _time.GetUtcNow().AddHours(2))));
        using var credential = CertificateCredential(path);
        await credential.GetTokenAsync(Request, CancellationToken.None);

        _time.Advance(TimeSpan.FromHours(3));
        var error = await Assert.ThrowsAsync<CredentialMaterialException>(() => credential.GetTokenAsync(Request, CancellationToken.None).AsTask());

        Assert.Contains("'CN=short'", error.Message, StringComparison.Ordinal);
        Assert.Contains("expired on", error.Message, StringComparison.Ordinal);
        Assert.Equal("credential_material", TokenFailure.Classify(error));
    }

    private ClientSecretFileCredential SecretCredential(SecretSource source) =>
        new(source, secret =>
        {
            _secrets.Add(secret);
            return new ScriptedCredential().ThenAlways(() => new AccessToken("token-" + _secrets.Count, DateTimeOffset.UtcNow.AddHours(1)));
        }) { Logger = _logger };

    [Fact]
    public async Task Secret_FromAVariable_IsBuiltOnce()
    {
        using var credential = SecretCredential(SecretSource.FromValue("value-secret", "AAD_CLIENT_SECRET"));

        await credential.GetTokenAsync(Request, CancellationToken.None);
        await credential.GetTokenAsync(Request, CancellationToken.None);

        Assert.Equal(["value-secret"], _secrets);
    }

    [Fact]
    public async Task Secret_FromAFile_FollowsChanges_AndIsNeverLogged()
    {
        var path = PathOf("secret");
        await File.WriteAllTextAsync(path, "first-secret-value\n");
        using var credential = SecretCredential(SecretSource.FromFile(path, "AAD_CLIENT_SECRET_FILE"));
        await credential.GetTokenAsync(Request, CancellationToken.None);
        await credential.GetTokenAsync(Request, CancellationToken.None);

        await File.WriteAllTextAsync(path, "second-secret-value\n");
        var token = await credential.GetTokenAsync(Request, CancellationToken.None);

        Assert.Equal(["first-secret-value", "second-secret-value"], _secrets);
        Assert.Equal("token-2", token.Token);
        var changed = Assert.Single(_logger.Entries, e => e.EventId.Id == 212);
        Assert.Contains(path, changed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_logger.Entries, e => e.Message.Contains("secret-value", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Secret_EmptyFile_IsAClearFailure()
    {
        var path = PathOf("secret");
        await File.WriteAllTextAsync(path, "\n");
        using var credential = SecretCredential(SecretSource.FromFile(path, "AAD_CLIENT_SECRET_FILE"));

        var error = await Assert.ThrowsAsync<CredentialMaterialException>(() => credential.GetTokenAsync(Request, CancellationToken.None).AsTask());

        Assert.Equal($"AAD_CLIENT_SECRET_FILE file {path} is empty", error.Message);
    }

    [Fact]
    public async Task FederatedToken_IsReadAfreshEachTime()
    {
        var path = PathOf("azure-identity-token");
        var file = new FederatedTokenFile(path);
        await File.WriteAllTextAsync(path, "eyJ.first.sig");
        Assert.Equal("eyJ.first.sig", await file.ReadAsync(CancellationToken.None));

        await File.WriteAllTextAsync(path, "eyJ.second.sig\n");
        Assert.Equal("eyJ.second.sig", await file.ReadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task FederatedToken_MissingFile_SaysWhichSettingAndPath()
    {
        var file = new FederatedTokenFile("/var/run/secrets/azure/tokens/missing");

        var error = await Assert.ThrowsAsync<CredentialMaterialException>(() => file.ReadAsync(CancellationToken.None));

        Assert.StartsWith("AZURE_FEDERATED_TOKEN_FILE file /var/run/secrets/azure/tokens/missing does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MaterialFailure_WrappedByAzureIdentity_IsDescribedByItsOwnMessage()
    {
        var inner = new CredentialMaterialException("AZURE_FEDERATED_TOKEN_FILE file /t does not exist; check the path");
        var wrapped = new AuthenticationFailedException("ClientAssertionCredential authentication failed: " + inner.Message, inner);

        Assert.Equal(inner.Message, TokenFailure.Describe(wrapped));
        Assert.Equal("credential_material", TokenFailure.Classify(wrapped));
    }
}
