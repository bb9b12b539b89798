using System.Net;
using System.Net.Http.Headers;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// Remote-write traffic through real Kestrel, FastProxy and SocketsHttpHandler on loopback: the
/// bodies Prometheus 2.42 really sent, and the header rules of issue 2.
/// </summary>
public sealed class RemoteWriteForwardingTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static HttpRequestMessage RemoteWrite(byte[] body, string path = "/api/v1/write")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        content.Headers.ContentEncoding.Add("snappy");
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Add("X-Prometheus-Remote-Write-Version", "0.1.0");
        request.Headers.TryAddWithoutValidation("User-Agent", "Prometheus/2.42.0+ds");
        return request;
    }

    [Fact]
    public async Task PrometheusBodies_ArriveByteForByteWithTheirHeaders()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Status = StatusCodes.Status204NoContent;
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        var fixtures = Fixtures.RemoteWrite();
        foreach (var (name, body) in fixtures)
        {
            using var request = RemoteWrite(body);
            using var response = await client.SendAsync(request, Cancel);
            Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"{name}: {(int)response.StatusCode}");
        }

        var received = upstream.Requests;
        Assert.Equal(fixtures.Count, received.Count);
        foreach (var ((name, body), seen) in fixtures.Zip(received))
        {
            Assert.Equal("POST", seen.Method);
            Assert.Equal("/api/v1/write", seen.RawTarget);
            Assert.True(body.AsSpan().SequenceEqual(seen.Body), $"{name}: body changed on the way ({seen.Body!.Length} of {body.Length} bytes)");
            Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), seen.Header("Content-Length"));
            Assert.Equal("snappy", seen.Header("Content-Encoding"));
            Assert.Equal("application/x-protobuf", seen.Header("Content-Type"));
            Assert.Equal("0.1.0", seen.Header("X-Prometheus-Remote-Write-Version"));
            Assert.Equal("Prometheus/2.42.0+ds", seen.Header("User-Agent"));
            Assert.Equal("Bearer " + proxy.Token, seen.Header("Authorization"));
        }
    }

    [Fact]
    public async Task ClientAuthorizationAndHost_AreReplacedAndForwardedForAppended()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var request = RemoteWrite(Fixtures.RemoteWrite()[0].Body);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "the-clients-own-token");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal(["Bearer " + proxy.Token], seen.Headers["Authorization"]);
        Assert.Equal($"127.0.0.1:{upstream.Port}", seen.Header("Host"));
        Assert.Equal("203.0.113.7, 127.0.0.1", seen.Header("X-Forwarded-For"));
        Assert.Equal(0, upstream.Unauthorized);
    }

    [Fact]
    public async Task HopByHopHeaders_AreDroppedBothWays()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            context.Response.StatusCode = 200;
            context.Response.Headers.Connection = "X-Response-Hop";
            context.Response.Headers["X-Response-Hop"] = "only for the first hop";
            context.Response.Headers["Keep-Alive"] = "timeout=5";
            context.Response.Headers["Proxy-Authenticate"] = "Basic realm=upstream";
            context.Response.Headers["X-End-To-End"] = "kept";
            await context.Response.WriteAsync("ok", context.RequestAborted);
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var request = RemoteWrite(Fixtures.RemoteWrite()[0].Body);
        request.Headers.Connection.Add("X-Request-Hop");
        request.Headers.Add("X-Request-Hop", "only for the first hop");
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Proxy-Connection", "keep-alive");
        request.Headers.TryAddWithoutValidation("Proxy-Authorization", "Basic dXNlcjpwYXNz");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        request.Headers.Add("X-End-To-End", "kept");
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);

        // Control: the target really sends those response headers when asked directly.
        using (var direct = TestHttp.CreateClient())
        using (var directRequest = new HttpRequestMessage(HttpMethod.Post, upstream.BaseUrl + "/control") { Content = new ByteArrayContent([1]) })
        {
            directRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", proxy.Token);
            using var directResponse = await direct.SendAsync(directRequest, Cancel);
            Assert.True(directResponse.Headers.Contains("X-Response-Hop") && directResponse.Headers.Contains("Keep-Alive"),
                "control: the fake target did not send its hop-by-hop headers");
        }

        foreach (var dropped in new[] { "Connection", "X-Request-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE" })
        {
            Assert.False(seen.HasHeader(dropped), $"request header {dropped} reached the target: {seen.Header(dropped)}");
        }

        Assert.Equal("kept", seen.Header("X-End-To-End"));

        Assert.False(response.Headers.Contains("X-Response-Hop"), "response header named in Connection was relayed");
        Assert.False(response.Headers.Contains("Keep-Alive"), "Keep-Alive was relayed");
        Assert.False(response.Headers.Contains("Proxy-Authenticate"), "Proxy-Authenticate was relayed");
        Assert.DoesNotContain("X-Response-Hop", response.Headers.Connection, StringComparer.OrdinalIgnoreCase);
        Assert.Equal(["kept"], response.Headers.GetValues("X-End-To-End"));
        Assert.Equal("ok", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task OverrideRequestHeaders_AreSetOnEveryUpstreamRequest()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(
            upstream.BaseUrl,
            ("OVERRIDE_REQUEST_HEADERS", """{"X-Tenant":"operator-tenant","X-Ms-Extra":"from-config"}"""));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var request = RemoteWrite(Fixtures.RemoteWrite()[0].Body);
        request.Headers.Add("X-Tenant", "client-tenant");
        using var response = await client.SendAsync(request, Cancel);
        using var second = await client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, upstream.Requests.Count);
        foreach (var seen in upstream.Requests)
        {
            Assert.Equal(["operator-tenant"], seen.Headers["X-Tenant"]);
            Assert.Equal("from-config", seen.Header("X-Ms-Extra"));
        }
    }

    [Fact]
    public async Task OverrideOfAContentHeader_IsAppliedToBodiesAndDoesNotBreakBodylessRequests()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(
            upstream.BaseUrl,
            ("OVERRIDE_REQUEST_HEADERS", """{"Content-Type":"application/x-protobuf;proto=prometheus.WriteRequest"}"""));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(RemoteWrite(Fixtures.RemoteWrite()[0].Body), Cancel);
        using var get = await client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("application/x-protobuf;proto=prometheus.WriteRequest", upstream.Requests[0].Header("Content-Type"));
    }

    [Fact]
    public async Task ChunkedRequestBody_StaysChunkedUpstream()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = Fixtures.RemoteWrite()[1].Body;

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write")
        {
            Content = new PushContent(async (stream, ct) =>
            {
                // Three pieces with flushes in between, so the chunks really cross the wire apart.
                var third = body.Length / 3;
                await stream.WriteAsync(body.AsMemory(0, third), ct);
                await stream.FlushAsync(ct);
                await stream.WriteAsync(body.AsMemory(third, third), ct);
                await stream.FlushAsync(ct);
                await stream.WriteAsync(body.AsMemory(2 * third), ct);
            }),
        };
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("chunked", seen.Header("Transfer-Encoding"));
        Assert.False(seen.HasHeader("Content-Length"), $"a chunked body got Content-Length {seen.Header("Content-Length")}");
        Assert.True(body.AsSpan().SequenceEqual(seen.Body), "chunked body changed on the way");
    }

    [Fact]
    public async Task ContentLengthRequestBody_KeepsItsLengthUpstream()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = Fixtures.RemoteWrite()[1].Body;

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write")
        {
            Content = new PushContent(async (stream, ct) =>
            {
                await stream.WriteAsync(body.AsMemory(0, 1000), ct);
                await stream.FlushAsync(ct);
                await stream.WriteAsync(body.AsMemory(1000), ct);
            }, body.Length),
        };
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), seen.Header("Content-Length"));
        Assert.False(seen.HasHeader("Transfer-Encoding"), "a Content-Length body was re-framed as chunked");
        Assert.True(body.AsSpan().SequenceEqual(seen.Body), "body changed on the way");
    }
}
