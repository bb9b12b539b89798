using System.Net;
using System.Security.Cryptography;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// A 100 MB body goes through without being buffered whole. The proof: the client sends the first
/// megabyte and then waits until the target has received bytes; a proxy that buffered the body
/// would never send anything before the client finished, and the test would time out.
/// </summary>
public sealed class LargeBodyStreamingTests
{
    private const long BodyBytes = 100L * 1024 * 1024;
    private const int Block = 1024 * 1024;
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [Trait("Category", "Large")]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HundredMegabyteBody_ReachesTargetBeforeClientFinishesSending(bool declareLength)
    {
        var upstreamGotFirstBytes = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clientFinished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstBytesBeforeClientFinished = false;
        long upstreamBytes = 0;
        byte[]? upstreamHash = null;

        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, _) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var reader = context.Request.BodyReader;
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                foreach (var segment in read.Buffer)
                {
                    hash.AppendData(segment.Span);
                }

                upstreamBytes += read.Buffer.Length;
                if (upstreamBytes > 0 && !upstreamGotFirstBytes.Task.IsCompleted)
                {
                    firstBytesBeforeClientFinished = !clientFinished.Task.IsCompleted;
                    upstreamGotFirstBytes.TrySetResult();
                }

                reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            upstreamHash = hash.GetHashAndReset();
            context.Response.StatusCode = 204;
        };
        // Above the 64 MiB default body limit on purpose: this is about streaming, not limits.
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("MAX_REQUEST_BODY_BYTES", "0"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address, TimeSpan.FromSeconds(60));

        var block = new byte[Block];
        new Random(7).NextBytes(block);
        using var clientHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var content = new PushContent(async (stream, ct) =>
        {
            await stream.WriteAsync(block, ct);
            clientHash.AppendData(block);
            await stream.FlushAsync(ct);

            // Nothing more until the target has seen bytes: only a streaming proxy gets past here.
            try
            {
                await upstreamGotFirstBytes.Task.WaitAsync(EventTimeout, ct);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"the target received nothing within {EventTimeout.TotalSeconds} s of the first megabyte: the body is being buffered");
            }

            for (var sent = (long)Block; sent < BodyBytes; sent += Block)
            {
                // Vary each block a little so a reordered or repeated block changes the hash.
                block[0] = (byte)(sent / Block);
                await stream.WriteAsync(block, ct);
                clientHash.AppendData(block);
            }

            clientFinished.TrySetResult();
        }, declareLength ? BodyBytes : null);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.True(firstBytesBeforeClientFinished, "the target got its first bytes only after the client had sent everything");
        Assert.Equal(BodyBytes, upstreamBytes);
        Assert.Equal(clientHash.GetHashAndReset(), upstreamHash);
        var seen = Assert.Single(upstream.Requests);
        if (declareLength)
        {
            Assert.Equal(BodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), seen.Header("Content-Length"));
        }
        else
        {
            Assert.Equal("chunked", seen.Header("Transfer-Encoding"));
        }
    }
}
