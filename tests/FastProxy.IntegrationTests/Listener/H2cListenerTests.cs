using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>The h2c endpoint (H2C_PORT) speaks HTTP/2 with prior knowledge; the main port stays HTTP/1.1.</summary>
public sealed class H2cListenerTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task H2cPort_ServesHttp2PriorKnowledgeRequests()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var h2cPort = FreePort.Get();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("H2C_PORT", h2cPort.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(new Uri($"http://127.0.0.1:{h2cPort}"), version: HttpVersion.Version20);
        var body = Fixtures.RemoteWrite()[0].Body;

        using var write = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(body), Cancel);
        using var query = await client.GetAsync(new Uri("/api/v1/query?query=up%7Bjob%3D%22x%22%7D", UriKind.Relative), Cancel);
        using var ready = await client.GetAsync(new Uri("/ready", UriKind.Relative), Cancel);

        Assert.Equal(HttpVersion.Version20, write.Version);
        Assert.Equal(HttpStatusCode.OK, write.StatusCode);
        Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var requests = upstream.Requests;
        Assert.Equal(2, requests.Count);
        Assert.True(body.AsSpan().SequenceEqual(requests[0].Body), "body changed on the way through h2c");
        Assert.Equal("/api/v1/query?query=up%7Bjob%3D%22x%22%7D", requests[1].RawTarget);
        // HTTP/2 pseudo-headers never become upstream headers; the target still gets a Host.
        Assert.DoesNotContain(requests[0].Headers.Keys, k => k.StartsWith(':'));
        Assert.Equal($"127.0.0.1:{upstream.Port}", requests[0].Header("Host"));
        Assert.Equal("HTTP/1.1", requests[0].Protocol);
    }

    [Fact]
    public async Task MainPort_RefusesHttp2PriorKnowledge()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        using var client = TestHttp.CreateClient(proxy.Address, version: HttpVersion.Version20);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/health", UriKind.Relative), Cancel));
    }
}
