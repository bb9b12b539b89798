using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// A client slower than the target: each piece it sends reaches the target before it sends the
/// next, however small. SocketsHttpHandler holds small writes (the request head included) in
/// its buffer until they are flushed, so a proxy that never flushes leaves a trickling client's
/// bytes waiting for bytes the client has yet to send.
/// </summary>
public sealed class SlowClientStreamingTests
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(10);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClientSendsSmallPiecesAndWaits_EachPieceReachesTheTargetFirst(bool declareLength)
    {
        const int pieces = 4;
        const int pieceBytes = 300;
        var received = new ChangeSignal();
        long upstreamBytes = 0;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, recorded) =>
        {
            var reader = context.Request.BodyReader;
            var body = new MemoryStream();
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                foreach (var segment in read.Buffer)
                {
                    body.Write(segment.Span);
                }

                reader.AdvanceTo(read.Buffer.End);
                Interlocked.Exchange(ref upstreamBytes, body.Length);
                received.Notify();
                if (read.IsCompleted)
                {
                    break;
                }
            }

            recorded.Body = body.ToArray();
            context.Response.StatusCode = 204;
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address, TimeSpan.FromSeconds(30));
        var sent = new byte[pieces * pieceBytes];
        new Random(11).NextBytes(sent);

        var content = new PushContent(async (stream, ct) =>
        {
            for (var piece = 0; piece < pieces; piece++)
            {
                await stream.WriteAsync(sent.AsMemory(piece * pieceBytes, pieceBytes), ct);
                await stream.FlushAsync(ct);
                var expected = (piece + 1) * pieceBytes;
                await received.WaitUntilAsync(() => Interlocked.Read(ref upstreamBytes) >= expected, EventTimeout,
                    $"the target to hold {expected} bytes before the client sends more (it holds {Interlocked.Read(ref upstreamBytes)})");
            }
        }, declareLength ? sent.Length : null);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(sent, Assert.Single(upstream.Requests).Body);
    }
}
