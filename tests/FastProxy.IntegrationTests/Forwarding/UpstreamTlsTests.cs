using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using FastProxy.IntegrationTests.Identity;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// https targets on real loopback TLS: FastProxy runs as a child process that trusts a test-only
/// CA through SSL_CERT_FILE (the system trust store, as operators configure a private CA), gets
/// its token from a fake IMDS, and forwards to Kestrel serving a certificate for 127.0.0.1.
/// Proves ALPN negotiation (h2 when offered, HTTP/1.1 otherwise), that an untrusted certificate
/// is a 502 upstream_tls with nothing forwarded, and that HTTPS_PROXY is honoured for the target.
/// </summary>
public sealed class UpstreamTlsTests : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("fastproxy-upstream-tls-");
    private TestCertificateAuthority _trusted = null!;
    private FakeImds _imds = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _trusted = TestCertificateAuthority.Create(_directory.FullName);
        _imds = await FakeImds.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _imds.DisposeAsync();
        _trusted.Dispose();
        _directory.Delete(recursive: true);
    }

    private async Task<HttpsUpstream> StartTargetAsync(HttpProtocols protocols, TestCertificateAuthority? issuer = null)
    {
        var target = await HttpsUpstream.StartAsync((issuer ?? _trusted).ServerCertificate, protocols);
        target.TokenValidator = _imds.HasIssued;
        return target;
    }

    /// <summary>FastProxy (child) for <paramref name="target"/>, trusting only the test CA, ready to serve.</summary>
    private async Task<(ProxyProcess Proxy, HttpClient Client)> StartProxyAsync(HttpsUpstream target, string? httpsProxy = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = target.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = _imds.BaseUrl,
            ["SSL_CERT_FILE"] = _trusted.BundlePath,
            // No directory of system CAs either: the bundle is the whole trust store.
            ["SSL_CERT_DIR"] = _directory.CreateSubdirectory("no-system-cas").FullName,
        };
        if (httpsProxy is not null)
        {
            settings["HTTPS_PROXY"] = httpsProxy;
        }

        var proxy = ProxyProcess.Start(settings);
        var client = TestHttp.CreateClient(proxy.BaseAddress, TimeSpan.FromSeconds(15));
        try
        {
            await proxy.WaitForReadyAsync(client, StartTimeout);
        }
        catch
        {
            client.Dispose();
            await proxy.DisposeAsync();
            throw;
        }

        return (proxy, client);
    }

    private static async Task<HttpResponseMessage> PostRemoteWriteAsync(HttpClient client, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        content.Headers.ContentEncoding.Add("snappy");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/write", UriKind.Relative)) { Content = content };
        request.Headers.Add("X-Prometheus-Remote-Write-Version", "0.1.0");
        return await client.SendAsync(request, Cancel);
    }

    /// <summary>Posts the first real remote-write body and checks it arrived intact with the IMDS token.</summary>
    private async Task<RecordedRequest> AssertRemoteWriteArrivesAsync(HttpClient client, HttpsUpstream target, ProxyProcess proxy)
    {
        var (name, body) = Fixtures.RemoteWrite()[0];
        using var response = await PostRemoteWriteAsync(client, body);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)} for {name}\n{proxy.Describe()}");
        var seen = Assert.Single(target.Requests);
        Assert.Equal("POST", seen.Method);
        Assert.Equal("/api/v1/write", seen.RawTarget);
        Assert.Equal(body, seen.Body);
        Assert.Equal("Bearer " + Assert.Single(_imds.IssuedTokens), seen.Header("Authorization"));
        Assert.Equal("snappy", seen.Header("Content-Encoding"));
        Assert.Equal("application/x-protobuf", seen.Header("Content-Type"));
        Assert.Equal("0.1.0", seen.Header("X-Prometheus-Remote-Write-Version"));
        return seen;
    }

    [Fact]
    public async Task TargetOffersH2AndHttp11_RemoteWriteArrivesOverHttp2()
    {
        await using var target = await StartTargetAsync(HttpProtocols.Http1AndHttp2);
        var (proxy, client) = await StartProxyAsync(target);
        await using var _ = proxy;
        using var __ = client;

        var seen = await AssertRemoteWriteArrivesAsync(client, target, proxy);

        Assert.Equal("HTTP/2", seen.Protocol);
    }

    [Fact]
    public async Task TargetOffersOnlyHttp11_RemoteWriteArrivesOverHttp11()
    {
        await using var target = await StartTargetAsync(HttpProtocols.Http1);
        var (proxy, client) = await StartProxyAsync(target);
        await using var _ = proxy;
        using var __ = client;

        var seen = await AssertRemoteWriteArrivesAsync(client, target, proxy);

        Assert.Equal("HTTP/1.1", seen.Protocol);
    }

    [Fact]
    public async Task TargetCertificateFromUntrustedCa_Returns502UpstreamTlsAndForwardsNothing()
    {
        // A well-formed certificate for 127.0.0.1 (right name, valid dates), but from a CA that
        // is not in SSL_CERT_FILE: only the chain is wrong.
        using var untrusted = TestCertificateAuthority.Create(_directory.CreateSubdirectory("untrusted").FullName);
        await using var target = await StartTargetAsync(HttpProtocols.Http1AndHttp2, untrusted);
        var (proxy, client) = await StartProxyAsync(target);
        await using var _ = proxy;
        using var __ = client;

        using var response = await PostRemoteWriteAsync(client, Fixtures.RemoteWrite()[0].Body);

        Assert.True(response.StatusCode == HttpStatusCode.BadGateway, $"{(int)response.StatusCode}\n{proxy.Describe()}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("upstream_tls", json.RootElement.GetProperty("error").GetString());
        Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("message").GetString()));
        Assert.Empty(target.Requests);
        // The token was there (ready), so the 502 is the certificate and nothing else.
        Assert.Single(_imds.IssuedTokens);
    }

    [Fact]
    public async Task HttpsProxySet_TargetReachedThroughConnectTunnel()
    {
        await using var connect = new ConnectProxy();
        await using var target = await StartTargetAsync(HttpProtocols.Http1AndHttp2);
        var (proxy, client) = await StartProxyAsync(target, connect.Url);
        await using var _ = proxy;
        using var __ = client;

        var seen = await AssertRemoteWriteArrivesAsync(client, target, proxy);

        Assert.Equal("HTTP/2", seen.Protocol);
        var line = Assert.Single(connect.RequestLines);
        Assert.Equal($"CONNECT 127.0.0.1:{target.Port} HTTP/1.1", line);
        // The IMDS call is plain http and HTTP_PROXY is unset: it went direct, not through the proxy.
        Assert.DoesNotContain(connect.RequestLines, l => l.Contains(_imds.BaseUrl, StringComparison.Ordinal));
    }
}
