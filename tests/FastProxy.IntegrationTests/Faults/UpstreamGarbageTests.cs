using System.Net;
using System.Text;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// The target answers something that is not a valid HTTP response: FastProxy answers 502
/// upstream_protocol (never relays a success it did not get) and keeps serving.
/// </summary>
public sealed class UpstreamGarbageTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public static TheoryData<string> Garbage => new()
    {
        "not HTTP",
        "invalid status line",
        "invalid header line",
        "oversized response headers",
    };

    private static byte[] AnswerFor(string kind) => kind switch
    {
        "not HTTP" => Encoding.ASCII.GetBytes("SSH-2.0-OpenSSH_9.6\r\n\0\u0001\u0002 binary noise \u00ff"),
        // A status a lenient parser might read as 200.
        "invalid status line" => Encoding.ASCII.GetBytes("HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok"),
        "invalid header line" => Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nthis line has no colon\r\nContent-Length: 2\r\n\r\nok"),
        // 1 MiB of headers: far past SocketsHttpHandler's 64 KiB response-header limit.
        "oversized response headers" => Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\n" + string.Concat(Enumerable.Range(0, 1024).Select(i => $"X-Filler-{i}: {new string('a', 1000)}\r\n")) + "Content-Length: 2\r\n\r\nok"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public async Task UpstreamAnswersGarbage_Returns502NamingIt_AndTheProxyKeepsServing(string kind)
    {
        await using var upstream = ScriptedUpstream.Start();
        upstream.Answer = AnswerFor(kind);
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        using var client = TestHttp.CreateClient(proxy.Address);

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[5000]), Cancel);
            await FaultAssert.OwnErrorAsync(response, HttpStatusCode.BadGateway, "upstream_protocol");
        }

        Assert.Equal(3, upstream.Requests);
        await FaultAssert.HealthyAsync(client);

        // The target comes to its senses; the same proxy forwards at once.
        upstream.Answer = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        using var healthy = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[5000]), Cancel);
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        Assert.Equal("ok", await healthy.Content.ReadAsStringAsync(Cancel));
    }
}
