using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FastProxy.IntegrationTests.Identity;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// Two test CAs shared by the tests of a class (RSA roots are slow to make): the one FastProxy's
/// clients and TLS_CLIENT_CA_FILE trust, and another one nobody trusts.
/// </summary>
public sealed class ListenerTlsAuthorities : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-tls-ca-").FullName;

    public ListenerTlsAuthorities()
    {
        Authority = TestCertificateAuthority.Create(Directory.CreateDirectory(Path.Combine(_directory, "ca")).FullName);
        OtherAuthority = TestCertificateAuthority.Create(Directory.CreateDirectory(Path.Combine(_directory, "other-ca")).FullName);
    }

    internal TestCertificateAuthority Authority { get; }

    internal TestCertificateAuthority OtherAuthority { get; }

    public void Dispose()
    {
        Authority.Dispose();
        OtherAuthority.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>
/// Certificates for the TLS listener tests, issued by a <see cref="TestCertificateAuthority"/>'s
/// root: server certificates for 127.0.0.1 (several, to rotate), client certificates, and the
/// files FastProxy reads (tls.crt and tls.key of a Kubernetes TLS Secret, a PFX, a CA bundle).
/// Clients trust the root and nothing else. Leaves have ECDSA keys, quick to make.
/// </summary>
internal sealed class ListenerTlsMaterial
{
    private readonly string _directory;

    public ListenerTlsMaterial(string directory, ListenerTlsAuthorities authorities)
    {
        _directory = directory;
        Authority = authorities.Authority;
        OtherAuthority = authorities.OtherAuthority;
    }

    public TestCertificateAuthority Authority { get; }

    /// <summary>A CA FastProxy does not trust for clients.</summary>
    public TestCertificateAuthority OtherAuthority { get; }

    public string FilePath(string name) => Path.Combine(_directory, name);

    public static X509Certificate2 Issue(X509Certificate2 issuer, string subject, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var issuerKey = issuer.GetRSAPrivateKey()!;
        using var signed = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForRSA(issuerKey, RSASignaturePadding.Pkcs1),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(5), RandomNumberGenerator.GetBytes(12));
        using var withKey = signed.CopyWithPrivateKey(key);
        // Through PKCS#12 so SslStream can use the key as a client certificate.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public X509Certificate2 IssueServer(string subject = "CN=127.0.0.1") => Issue(Authority.Root, subject, server: true);

    public X509Certificate2 IssueClient(string subject = "CN=prometheus") => Issue(Authority.Root, subject, server: false);

    /// <summary>Writes tls.crt and tls.key as new files moved into place (as a Secret volume update does); returns both paths.</summary>
    public (string Certificate, string Key) WritePem(X509Certificate2 certificate, string name = "tls")
    {
        var certificatePath = FilePath(name + ".crt");
        var keyPath = FilePath(name + ".key");
        Replace(keyPath, KeyPem(certificate));
        Replace(certificatePath, certificate.ExportCertificatePem() + "\n");
        return (certificatePath, keyPath);
    }

    public static string KeyPem(X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPrivateKey();
        return key!.ExportPkcs8PrivateKeyPem() + "\n";
    }

    /// <summary>A new file with a later modification time moved over <paramref name="path"/>.</summary>
    public static void Replace(string path, string content)
    {
        var staged = path + ".new";
        File.WriteAllText(staged, content);
        if (File.Exists(path))
        {
            File.SetLastWriteTimeUtc(staged, File.GetLastWriteTimeUtc(path).AddSeconds(2));
        }

        File.Move(staged, path, overwrite: true);
    }

    /// <summary>An HttpClient that trusts only the test root and, when given, presents <paramref name="clientCertificate"/>.</summary>
    public HttpClient CreateClient(Uri baseAddress, X509Certificate2? clientCertificate = null, Version? version = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) => IsIssuedByRoot(certificate),
                // Offered whatever CAs the server names, so a certificate of a foreign CA is really sent.
                LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            },
        };
        var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(15) };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return client;
    }

    /// <summary>One TLS handshake with the listener; returns the certificate it presented.</summary>
    public async Task<X509Certificate2> HandshakeAsync(int port, CancellationToken cancellationToken)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => IsIssuedByRoot(certificate),
        }, cancellationToken);
        return X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData());
    }

    private bool IsIssuedByRoot(X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority.Root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
