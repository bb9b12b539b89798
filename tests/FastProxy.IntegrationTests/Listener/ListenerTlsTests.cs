using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using FastProxy.Configuration;
using FastProxy.IntegrationTests.Identity;
using FastProxy.IntegrationTests.Support;
using FastProxy.Listener;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// TLS on the listening port (TLS_CERT_FILE, TLS_KEY_FILE), its reload on change, and client
/// certificates (TLS_CLIENT_CA_FILE): the real Kestrel listener in-process, real SslStream and
/// SocketsHttpHandler clients, certificates made by a test CA.
/// </summary>
public sealed class ListenerTlsTests : IAsyncDisposable, IClassFixture<ListenerTlsAuthorities>
{
    private const string UpstreamToken = "tls-test-token";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly Uri Write = new("/api/v1/write", UriKind.Relative);

    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-tls-").FullName;
    private readonly ListenerTlsMaterial _tls;
    private readonly LogCapture _logs = new();
    private FakeUpstream? _upstream;
    private ProxyServer? _server;

    public ListenerTlsTests(ListenerTlsAuthorities authorities) => _tls = new ListenerTlsMaterial(_directory, authorities);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private FakeUpstream Upstream => _upstream!;

    /// <summary>FastProxy with TLS_CERT_FILE (and whatever else) in front of a fake upstream; returns the HTTPS address.</summary>
    private async Task<Uri> StartAsync(params (string Name, string Value)[] settings)
    {
        _upstream = await FakeUpstream.StartAsync(UpstreamToken);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TARGET_HOST"] = _upstream.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "127.0.0.1",
        };
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }

        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, string.Join("; ", loaded.Errors));
        _server = ProxyServer.Create(loaded.Options! with { ListeningPort = 0 },
            new ProxyServerDependencies { Credential = new StaticTokenCredential(UpstreamToken), ExtraLogger = _logs });
        await _server.StartAsync(Cancel);
        await Task.WhenAll(_server.Tokens.All.Select(s => s.FirstAttempt)).WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        return _server.Addresses[0];
    }

    private static HttpRequestMessage Post(byte[] body, Version? version = null) => new(HttpMethod.Post, Write)
    {
        Content = new ByteArrayContent(body),
        Version = version ?? HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private static string Thumbprint(X509Certificate2 certificate) => certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);

    [Fact]
    public async Task PemCertificateAndKey_ServeHttp1AndHttp2OverTls_AndForward()
    {
        using var certificate = _tls.IssueServer();
        var (certificateFile, keyFile) = _tls.WritePem(certificate);
        var address = await StartAsync(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile));
        using var http1 = _tls.CreateClient(address, version: HttpVersion.Version11);
        using var http2 = _tls.CreateClient(address, version: HttpVersion.Version20);

        using var viaHttp1 = await http1.SendAsync(Post([1, 2, 3]), Cancel);
        using var viaHttp2 = await http2.SendAsync(Post([4, 5], HttpVersion.Version20), Cancel);
        using var ready = await http2.GetAsync(new Uri("/ready", UriKind.Relative), Cancel);

        Assert.Equal("https", address.Scheme);
        Assert.Equal(HttpStatusCode.OK, viaHttp1.StatusCode);
        Assert.Equal(HttpVersion.Version11, viaHttp1.Version);
        Assert.Equal(HttpStatusCode.OK, viaHttp2.StatusCode);
        Assert.Equal(HttpVersion.Version20, viaHttp2.Version);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal([[1, 2, 3], [4, 5]], Upstream.Requests.Select(r => r.Body));
        Assert.Contains(_logs.Lines, l => l.EventId == 610 && l.Text.Contains(certificateFile, StringComparison.Ordinal));
    }

    [Fact]
    public async Task PlainHttpToTheTlsPort_IsNeverForwarded()
    {
        using var certificate = _tls.IssueServer();
        var (certificateFile, keyFile) = _tls.WritePem(certificate);
        var address = await StartAsync(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile));
        using var plain = TestHttp.CreateClient(new Uri($"http://127.0.0.1:{address.Port}"), timeout: TimeSpan.FromSeconds(10));

        var answer = await Record.ExceptionAsync(async () =>
        {
            using var response = await plain.SendAsync(Post([1]), Cancel);
            Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        });

        Assert.True(answer is null or HttpRequestException, $"unexpected {answer}");
        Assert.Empty(Upstream.Requests);
    }

    [Fact]
    public async Task PfxWithPasswordFile_Serves()
    {
        using var certificate = _tls.IssueServer();
        var pfx = _tls.FilePath("listener.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "pfx-password"));
        var passwordFile = _tls.FilePath("pfx-password");
        File.WriteAllText(passwordFile, "pfx-password\n");
        var address = await StartAsync(("TLS_CERT_FILE", pfx), ("TLS_KEY_PASSWORD_FILE", passwordFile));

        using var presented = await _tls.HandshakeAsync(address.Port, Cancel);
        using var client = _tls.CreateClient(address);
        using var response = await client.SendAsync(Post([7]), Cancel);

        Assert.Equal(Thumbprint(certificate), Thumbprint(presented));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("pfx-password", _logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CertificateFilesReplaced_NewHandshakesPresentTheNewCertificate()
    {
        using var first = _tls.IssueServer("CN=first");
        using var second = _tls.IssueServer("CN=second");
        var (certificateFile, keyFile) = _tls.WritePem(first);
        var address = await StartAsync(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile));
        using (var before = await _tls.HandshakeAsync(address.Port, Cancel))
        {
            Assert.Equal(Thumbprint(first), Thumbprint(before));
        }

        _tls.WritePem(second);

        // The files are compared at most once a second, on a handshake: handshake until the new
        // certificate comes back, bounded.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string presented;
        do
        {
            using var certificate = await _tls.HandshakeAsync(address.Port, Cancel);
            presented = Thumbprint(certificate);
            if (presented != Thumbprint(second))
            {
                await Task.Delay(100, Cancel);
            }
        }
        while (presented != Thumbprint(second) && DateTime.UtcNow < deadline);

        Assert.Equal(Thumbprint(second), presented);
        using var client = _tls.CreateClient(address);
        using var response = await client.SendAsync(Post([1]), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _logs.Lines.Count(l => l.EventId == 610));
        Assert.DoesNotContain(_logs.Lines, l => l.EventId == 611);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("key-of-another-certificate")]
    public async Task BrokenReplacement_KeepsTheOldCertificate_AndWarnsNamingTheFile(string damage)
    {
        using var first = _tls.IssueServer("CN=first");
        var (certificateFile, keyFile) = _tls.WritePem(first);
        var address = await StartAsync(("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile));

        string expectedFile;
        if (damage == "garbage")
        {
            ListenerTlsMaterial.Replace(certificateFile, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
            expectedFile = certificateFile;
        }
        else
        {
            using var other = _tls.IssueServer("CN=other");
            ListenerTlsMaterial.Replace(keyFile, ListenerTlsMaterial.KeyPem(other));
            expectedFile = keyFile;
        }

        // Each handshake must still present the first certificate, until the reload was tried.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!_logs.Lines.Any(l => l.EventId == 611) && DateTime.UtcNow < deadline)
        {
            using var presented = await _tls.HandshakeAsync(address.Port, Cancel);
            Assert.Equal(Thumbprint(first), Thumbprint(presented));
            await Task.Delay(100, Cancel);
        }

        var warning = Assert.Single(_logs.Lines, l => l.EventId == 611);
        Assert.Contains(expectedFile, warning.Text, StringComparison.Ordinal);
        Assert.Contains("CN=first", warning.Text, StringComparison.Ordinal);
        using var after = await _tls.HandshakeAsync(address.Port, Cancel);
        Assert.Equal(Thumbprint(first), Thumbprint(after));
        using var client = _tls.CreateClient(address);
        using var response = await client.SendAsync(Post([1]), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<Uri> StartMutualAsync(params (string Name, string Value)[] extra)
    {
        using var certificate = _tls.IssueServer();
        var (certificateFile, keyFile) = _tls.WritePem(certificate);
        return await StartAsync([("TLS_CERT_FILE", certificateFile), ("TLS_KEY_FILE", keyFile), ("TLS_CLIENT_CA_FILE", _tls.Authority.BundlePath), .. extra]);
    }

    [Fact]
    public async Task Mtls_TrustedClientCertificate_IsForwarded()
    {
        var address = await StartMutualAsync();
        using var clientCertificate = _tls.IssueClient();
        using var client = _tls.CreateClient(address, clientCertificate);

        using var response = await client.SendAsync(Post([1, 2]), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer " + UpstreamToken, Assert.Single(Upstream.Requests).Header("Authorization"));
    }

    [Fact]
    public async Task Mtls_NoClientCertificate_FailsTheHandshake_NothingForwarded()
    {
        var address = await StartMutualAsync();
        using var client = _tls.CreateClient(address);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Post([1]), Cancel));

        Assert.Empty(Upstream.Requests);
        Assert.Contains(_logs.Lines, l => l.EventId == 612 && l.Text.Contains("sent no certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mtls_CertificateOfAnotherCa_FailsTheHandshake_NothingForwarded()
    {
        var address = await StartMutualAsync();
        using var foreign = ListenerTlsMaterial.Issue(_tls.OtherAuthority.Root, "CN=intruder", server: false);
        using var client = _tls.CreateClient(address, foreign);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Post([1]), Cancel));

        Assert.Empty(Upstream.Requests);
        Assert.Contains(_logs.Lines, l => l.EventId == 612 && l.Text.Contains("CN=intruder", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mtls_ServerCertificateOfTheTrustedCa_IsNotAClientCertificate()
    {
        // Issued by the trusted CA, but only for servers (EKU serverAuth): refused as a client.
        var address = await StartMutualAsync();
        using var serverOnly = _tls.IssueServer("CN=not-a-client");
        using var client = _tls.CreateClient(address, serverOnly);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Post([1]), Cancel));

        Assert.Empty(Upstream.Requests);
    }

    [Fact]
    public async Task Mtls_MetricsPortStaysPlainHttpForProbes_AndRefusesTheTap()
    {
        var metricsPort = FreePort.Get().ToString(CultureInfo.InvariantCulture);
        await StartMutualAsync(("METRICS_PORT", metricsPort), ("DIAGNOSTICS_SAMPLE_EVERY", "1"));
        using var plain = TestHttp.CreateClient(new Uri($"http://127.0.0.1:{metricsPort}"));

        using var ready = await plain.GetAsync(new Uri("/ready", UriKind.Relative), Cancel);
        using var health = await plain.GetAsync(new Uri("/health", UriKind.Relative), Cancel);
        using var metrics = await plain.GetAsync(new Uri("/metrics", UriKind.Relative), Cancel);
        using var tap = await plain.GetAsync(new Uri("/fastproxy/payloads", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, tap.StatusCode);
        using var error = JsonDocument.Parse(await tap.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("client_certificate_required", error.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Mtls_CountsAsInboundProtection_NoOpenListenerWarning()
    {
        using var certificate = _tls.IssueServer();
        var (certificateFile, keyFile) = _tls.WritePem(certificate);
        _upstream = await FakeUpstream.StartAsync(UpstreamToken);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TARGET_HOST"] = _upstream.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["TLS_CERT_FILE"] = certificateFile,
            ["TLS_KEY_FILE"] = keyFile,
            ["TLS_CLIENT_CA_FILE"] = _tls.Authority.BundlePath,
        };
        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, string.Join("; ", loaded.Errors));
        _server = ProxyServer.Create(loaded.Options! with { ListeningPort = 0, ListenAddress = IPAddress.Any },
            new ProxyServerDependencies { Credential = new StaticTokenCredential(UpstreamToken), ExtraLogger = _logs });

        await _server.StartAsync(Cancel);

        Assert.Contains(_logs.Lines, l => l.EventId == 101);
        Assert.DoesNotContain(_logs.Lines, l => l.EventId == 103);
    }

    [Fact]
    public async Task UnusableCertificateAtStartup_ExitsWithCode2AndOneLineNamingTheSetting()
    {
        using var certificate = _tls.IssueServer();
        var certificateOnly = _tls.FilePath("no-key.crt");
        File.WriteAllText(certificateOnly, certificate.ExportCertificatePem());
        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = "http://127.0.0.1:9",
            ["IDENTITY_TYPE"] = "systemassigned",
            ["TLS_CERT_FILE"] = certificateOnly,
        });

        var exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(exitCode == 2, $"exit code {exitCode}\n{proxy.Describe()}");
        var problem = Assert.Single(proxy.StderrLines, l => l.StartsWith("  ", StringComparison.Ordinal) && l.Trim().Length > 0);
        Assert.Contains($"TLS_CERT_FILE file {certificateOnly} holds no private key; set TLS_KEY_FILE", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", proxy.Stdout + proxy.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", proxy.Stdout + proxy.Stderr, StringComparison.Ordinal);
    }
}
