using System.Net;
using System.Security.Cryptography;
using System.Text;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>PromQL query traffic: GET and form POST pass through, large responses stream back intact.</summary>
public sealed class QueryPassThroughTests
{
    private const int ResponseBytes = 8 * 1024 * 1024;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A deterministic pseudo-random response body, so corruption anywhere shows up in the hash.</summary>
    private static byte[] LargeBody()
    {
        var body = new byte[ResponseBytes];
        new Random(42).NextBytes(body);
        return body;
    }

    /// <summary>Writes the body in 64 KiB pieces with flushes and no Content-Length: chunked, streamed.</summary>
    private static Func<HttpContext, RecordedRequest, Task> StreamBack(byte[] body) => async (context, recorded) =>
    {
        recorded.Body = await FakeUpstream.ReadBodyAsync(context);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.Headers["X-Upstream-Header"] = "relayed";
        for (var offset = 0; offset < body.Length; offset += 64 * 1024)
        {
            await context.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(64 * 1024, body.Length - offset)), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }
    };

    [Fact]
    public async Task QueryGet_LargeChunkedResponseIsRelayedIntact()
    {
        var body = LargeBody();
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = StreamBack(body);
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.GetAsync(
            new Uri("/api/v1/query_range?query=rate(http_requests_total%5B5m%5D)&start=1700000000&end=1700003600&step=15", UriKind.Relative),
            HttpCompletionOption.ResponseHeadersRead, Cancel);
        var received = await response.Content.ReadAsByteArrayAsync(Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.TransferEncodingChunked, "a response without Content-Length should reach the client chunked");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["relayed"], response.Headers.GetValues("X-Upstream-Header"));
        Assert.Equal(body.Length, received.Length);
        Assert.Equal(SHA256.HashData(body), SHA256.HashData(received));
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("GET", seen.Method);
        Assert.Equal("/api/v1/query_range?query=rate(http_requests_total%5B5m%5D)&start=1700000000&end=1700003600&step=15", seen.RawTarget);
        Assert.Empty(seen.Body!);
    }

    [Fact]
    public async Task QueryPostForm_BodyAndLargeResponsePassThrough()
    {
        var body = LargeBody();
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = StreamBack(body);
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var form = new FormUrlEncodedContent(
        [
            new("query", "sum by (job) (rate(up{job=~\"node|prometheus\"}[5m]))"),
            new("time", "1700000000.5"),
        ]);
        var formBytes = await form.ReadAsByteArrayAsync(Cancel);

        using var response = await client.PostAsync(new Uri("/api/v1/query", UriKind.Relative), form, Cancel);
        var received = await response.Content.ReadAsByteArrayAsync(Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SHA256.HashData(body), SHA256.HashData(received));
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("POST", seen.Method);
        Assert.Equal("/api/v1/query", seen.RawTarget);
        Assert.Equal("application/x-www-form-urlencoded", seen.Header("Content-Type"));
        Assert.Equal(Encoding.ASCII.GetString(formBytes), Encoding.ASCII.GetString(seen.Body!));
    }

    [Fact]
    public async Task UpstreamErrorResponse_IsRelayedUnchanged()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Status = StatusCodes.Status422UnprocessableEntity;
        upstream.ResponseBody = "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"bad query\"}"u8.ToArray();
        upstream.ResponseHeaders["Content-Type"] = "application/json";
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.GetAsync(new Uri("/api/v1/query?query=%7B", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(upstream.ResponseBody, await response.Content.ReadAsByteArrayAsync(Cancel));
        Assert.False(response.Headers.Contains("Status-Code"), "aad-auth-proxy's non-standard Status-Code header must not be added");
    }
}
