using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// MAX_CONNECTIONS_PER_SERVER caps the connections to the target; requests beyond it queue for a
/// connection, and a queue behind a target that holds every connection ends in 504 after
/// UPSTREAM_TIMEOUT_SECONDS instead of waiting forever.
/// </summary>
public sealed class ConnectionPoolTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, byte[] body) =>
        await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(body), Cancel);

    [Fact]
    public async Task TwoConnectionsFor32ConcurrentRequests_AllQueueAndSucceed()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            // A target that takes a moment per request (the scenario, not synchronisation), so
            // the requests overlap and must queue for the two connections.
            await Task.Delay(20, context.RequestAborted);
            context.Response.StatusCode = 200;
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("MAX_CONNECTIONS_PER_SERVER", "2"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        var bodies = Enumerable.Range(0, 32).Select(_ => RandomNumberGenerator.GetBytes(10_000)).ToList();
        var responses = await Task.WhenAll(bodies.Select(b => PostAsync(client, b)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.InRange(upstream.PeakConnections, 1, 2);
        var received = upstream.Requests.Select(r => Convert.ToHexString(SHA256.HashData(r.Body!))).ToHashSet();
        Assert.All(bodies, b => Assert.Contains(Convert.ToHexString(SHA256.HashData(b)), received));
    }

    [Fact]
    public async Task TargetHoldsEveryConnection_QueuedRequestsEndWith504_NotAHang()
    {
        using var release = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var arrivals = new System.Collections.Concurrent.ConcurrentQueue<TimeSpan>();
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, recorded) =>
        {
            arrivals.Enqueue(clock.Elapsed);
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            // Never answers: holds the connection until FastProxy gives up (or the test ends).
            using var either = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, release.Token);
            await Task.Delay(TimeSpan.FromSeconds(30), either.Token);
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl,
            ("MAX_CONNECTIONS_PER_SERVER", "2"), ("UPSTREAM_TIMEOUT_SECONDS", "1"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        try
        {
            var started = Stopwatch.StartNew();
            var sentAt = clock.Elapsed;
            var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => PostAsync(client, new byte[1000])));
            var elapsed = started.Elapsed;

            foreach (var response in responses)
            {
                await FaultAssert.OwnErrorAsync(response, HttpStatusCode.GatewayTimeout, "upstream_timeout");
            }

            // Each waits 1 s of silence, whether held by the target or queued for a connection;
            // a queued request must not wait for the held ones' timeouts first.
            Assert.True(elapsed < TimeSpan.FromSeconds(6), $"8 requests took {elapsed.TotalSeconds:0.0} s to time out");

            // Until the first timeout (1 s at the earliest) no connection was freed, so only two
            // requests can have reached the target; the other six were queued in FastProxy. (Peak
            // connections at the target is no measure here: a timed-out connection is closed by
            // FastProxy before the target notices, while its replacement is already open.)
            var early = arrivals.Count(a => a - sentAt < TimeSpan.FromSeconds(0.9));
            Assert.InRange(early, 1, 2);
        }
        finally
        {
            await release.CancelAsync();
        }

        upstream.Behavior = null;
        using var recovered = await PostAsync(client, new byte[1000]);
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
    }
}
