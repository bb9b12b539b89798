using System.Net;
using FastProxy.IntegrationTests.Support;
using FastProxy.IntegrationTests.Telemetry;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// Clients that give up mid-body, again and again: each upstream request is cancelled, and
/// nothing accumulates (connections to the target, requests counted in flight).
/// </summary>
public sealed class ClientAbortTests
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(15);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ClientAbortsMidBody50Times_EachUpstreamRequestIsCancelled_AndNothingLeaks()
    {
        const int Aborts = 50;
        var gotBytes = 0;
        var cancelled = 0;
        var changed = new ChangeSignal();
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, _) =>
        {
            var counted = false;
            try
            {
                var reader = context.Request.BodyReader;
                while (true)
                {
                    var read = await reader.ReadAsync(context.RequestAborted);
                    if (!read.Buffer.IsEmpty && !counted)
                    {
                        counted = true;
                        Interlocked.Increment(ref gotBytes);
                        changed.Notify();
                    }

                    reader.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        // A body that ended instead of breaking off: FastProxy completed an aborted
                        // body, which the target would take for a whole (truncated) request.
                        context.Response.StatusCode = 200;
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                Interlocked.Increment(ref cancelled);
                changed.Notify();
            }
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        for (var i = 0; i < Aborts; i++)
        {
            using var abort = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
            var content = new PushContent(async (stream, ct) =>
            {
                await stream.WriteAsync(new byte[64 * 1024], ct);
                await stream.FlushAsync(ct);
                // The client stalls mid-body until it gives up.
                await Task.Delay(Timeout.Infinite, ct);
            }, 10 * 1024 * 1024);
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
            var send = client.SendAsync(request, abort.Token);
            var expected = i + 1;
            await changed.WaitUntilAsync(() => Volatile.Read(ref gotBytes) >= expected, EventTimeout, $"request {expected}'s first bytes at the target");
            await abort.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        }

        await changed.WaitUntilAsync(() => Volatile.Read(ref cancelled) == Aborts, EventTimeout, $"{Aborts} cancelled requests at the target (got {Volatile.Read(ref cancelled)})");
        Assert.Equal(Aborts, upstream.Requests.Count);
        // A connection that carried half a body cannot be reused: each was closed, none is left open.
        await upstream.WaitForOpenConnectionsAsync(open => open == 0, EventTimeout, "every aborted request's connection to the target closed");
        Assert.InRange(upstream.AcceptedConnections, 1, Aborts);

        // FastProxy counts nothing in flight any more, and the next request goes through. The last
        // handler leaves the count just after the target saw its cancellation, so the scrape is
        // repeated (bounded: 5 s); a request that leaked would stay in flight through all of them.
        var scrape = await Scrape.UntilNothingInFlightAsync(() => ScrapeAsync(client), TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, scrape.Value("fastproxy_requests_in_flight", ("route", "default")));
        upstream.Behavior = null;
        using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[1000]), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Aborts, Volatile.Read(ref cancelled));
    }

    private static async Task<Scrape> ScrapeAsync(HttpClient client)
    {
        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Scrape.Parse(await response.Content.ReadAsStringAsync(Cancel));
    }
}
