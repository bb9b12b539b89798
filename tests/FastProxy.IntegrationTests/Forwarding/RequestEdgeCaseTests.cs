using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>Less common but legitimate HTTP that query clients (curl, Grafana) send, and one that must never pass.</summary>
public sealed class RequestEdgeCaseTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ExpectContinueBody_IsForwardedIntact()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = Fixtures.RemoteWrite()[1].Body;

        // curl sends Expect: 100-continue for large uploads and waits for the interim answer.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = new ByteArrayContent(body) };
        request.Headers.ExpectContinue = true;
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.AsSpan().SequenceEqual(Assert.Single(upstream.Requests).Body), "body changed on the way");
    }

    [Fact]
    public async Task HeadRequest_RelaysHeadersWithoutBody()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = (context, _) =>
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = 1234;
            return Task.CompletedTask;
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/v1/query?query=up"), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1234, response.Content.Headers.ContentLength);
        Assert.Equal("HEAD", Assert.Single(upstream.Requests).Method);
    }

    [Theory]
    [InlineData("http://169.254.169.254/metadata/identity/oauth2/token?resource=x")]
    [InlineData("http://example.invalid/api/v1/query?query=up")]
    public async Task AbsoluteFormRequestTarget_IsRefusedAndNeverForwarded(string absoluteTarget)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);

        // A client must not be able to choose the host FastProxy sends its token to. (Host matches
        // the target's authority, as RFC 9112 requires, so Kestrel hands the request to FastProxy.)
        var (status, text) = await RawHttp.ExchangeAsync(
            proxy.Port, $"GET {absoluteTarget} HTTP/1.1\r\nHost: {new Uri(absoluteTarget).Authority}\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(400, status);
        Assert.Contains("application/json", text, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task MalformedChunkedBody_IsNeverAnswered200()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);

        // "zz" is not a chunk size: the body cannot be delivered, so the forward failed and the
        // client must see a failure (an error status or a reset), never a 200 it would count as written.
        var request = $"POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1:{proxy.Port}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n";
        int? status;
        try
        {
            status = (await RawHttp.ExchangeAsync(proxy.Port, request, Cancel)).Status;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or InvalidOperationException)
        {
            status = null; // reset or closed without a status line
        }

        Assert.True(status is null or >= 400, $"answered {status}");
    }
}
