using System.Net;
using System.Security.Cryptography;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// The target goes away and comes back on the same port: FastProxy answers 5xx while it is gone
/// (never 2xx), and forwards again once it is back, without a restart and without stale pooled
/// connections turning into extra failures.
/// </summary>
public sealed class UpstreamRestartTests
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(15);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, HttpContent content) =>
        await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), content, Cancel);

    [Fact]
    public async Task UpstreamDownAtStart_Answers502_ThenForwardsOnceItIsUp_WithoutRestart()
    {
        var port = FreePort.Get();
        await using var proxy = await InProcessProxy.StartAsync($"http://127.0.0.1:{port}");
        using var client = TestHttp.CreateClient(proxy.Address);

        for (var i = 0; i < 3; i++)
        {
            using var refused = await PostAsync(client, new ByteArrayContent(new byte[1000]));
            await FaultAssert.OwnErrorAsync(refused, HttpStatusCode.BadGateway, "upstream_unreachable");
        }

        await using var upstream = await FakeUpstream.StartOnPortAsync(port, HttpProtocols.Http1, proxy.Token);
        var body = RandomNumberGenerator.GetBytes(100_000);
        using var forwarded = await PostAsync(client, new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.OK, forwarded.StatusCode);
        Assert.True(body.AsSpan().SequenceEqual(Assert.Single(upstream.Requests).Body), "body changed on the way");
    }

    /// <summary>
    /// The target dies while it reads a large streamed body (its connections are aborted, as when
    /// its process is killed), with idle pooled connections from earlier requests. The request in
    /// flight gets 502, nothing else fails: once the target is back on the same port, every
    /// request succeeds, including those that would land on the dead pooled connections.
    /// </summary>
    [Fact]
    public async Task UpstreamKilledMidBody_InFlightGets502_AndAfterRestartEveryRequestSucceeds()
    {
        const int Pooled = 4;
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        // 1. Four requests held together at the target, so the pool keeps four idle connections.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            if (Interlocked.Increment(ref arrived) == Pooled)
            {
                held.TrySetResult();
            }

            await held.Task.WaitAsync(EventTimeout, context.RequestAborted);
        };
        var warm = await Task.WhenAll(Enumerable.Range(0, Pooled).Select(_ => PostAsync(client, new ByteArrayContent(new byte[1000]))));
        Assert.All(warm, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(Pooled, upstream.AcceptedConnections);

        // 2. A 64 MiB body; the target reads 1 MiB of it, then dies.
        var readingBody = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Behavior = async (context, _) =>
        {
            long received = 0;
            var reader = context.Request.BodyReader;
            while (received < 1024 * 1024)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                received += read.Buffer.Length;
                reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            readingBody.TrySetResult();
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        };
        // The client reads the answer while it still sends the body, as Prometheus's Go client
        // does: FastProxy answers before it has read the whole body, and that answer is what
        // this test is about (HttpClient would only report the broken upload).
        var inFlight = RawHttp.PostWhileReadingAsync(proxy.Port, "/api/v1/write", 64L * 1024 * 1024, EventTimeout);
        await readingBody.Task.WaitAsync(EventTimeout, Cancel);
        await upstream.KillAsync();

        var (status, text, sentWhenAnswered, bodySent) = await inFlight;
        Assert.True(status == 502, $"the in-flight request got '{text}' after {bodySent} body bytes");
        Assert.Contains("Content-Type: application/json", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"error\":\"upstream_request_body\"", text, StringComparison.Ordinal);
        // Answered while the client was still sending, not after its upload; and the connection
        // closes (Kestrel reads the rest away for at most 5 s first, so the client
        // hears the answer rather than a reset that could destroy it).
        Assert.True(sentWhenAnswered < 64L * 1024 * 1024, $"the answer came only after the whole body ({sentWhenAnswered} bytes)");
        Assert.Contains("Connection: close", text, StringComparison.OrdinalIgnoreCase);

        await FaultAssert.HealthyAsync(client);

        // 3. Back on the same port: rounds of concurrent requests, more than the dead pooled
        //    connections, all succeed with their bodies intact.
        upstream.Behavior = null;
        await upstream.RestartAsync();
        var before = upstream.Requests.Count;
        var sent = new List<byte[]>();
        for (var round = 0; round < 3; round++)
        {
            var bodies = Enumerable.Range(0, Pooled + 1).Select(_ => RandomNumberGenerator.GetBytes(10_000)).ToList();
            sent.AddRange(bodies);
            var responses = await Task.WhenAll(bodies.Select(b => PostAsync(client, new ByteArrayContent(b))));
            foreach (var response in responses)
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK,
                    $"round {round}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)}");
                response.Dispose();
            }
        }

        var received = upstream.Requests.Skip(before).Select(r => Convert.ToHexString(SHA256.HashData(r.Body!))).ToHashSet();
        Assert.Equal(sent.Count, received.Count);
        Assert.All(sent, b => Assert.Contains(Convert.ToHexString(SHA256.HashData(b)), received));
    }
}
