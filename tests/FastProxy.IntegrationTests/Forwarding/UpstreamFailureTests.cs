using System.Net;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>DESIGN.md's error table on real sockets: 502, 504, reset on a cut body, cancel on client abort.</summary>
public sealed class UpstreamFailureTests
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(15);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task AssertOwnErrorAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
        Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task UpstreamNotListening_Returns502Json()
    {
        var closedPort = FreePort.Get();
        await using var proxy = await InProcessProxy.StartAsync($"http://127.0.0.1:{closedPort}");
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[1000]), Cancel);

        await AssertOwnErrorAsync(response, HttpStatusCode.BadGateway, "upstream_unreachable");
    }

    [Fact]
    public async Task UpstreamClosesWithoutAnswering_Returns502Json()
    {
        // A listener that accepts connections and closes them at once, before any response.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var closer = Task.Run(async () =>
        {
            // Ends only by the cancelled accept: a loop condition would let it end without one
            // when the cancellation falls between a close and the next accept.
            while (true)
            {
                using var socket = await listener.AcceptSocketAsync(stop.Token);
                socket.Close();
            }
        }, stop.Token);
        await using var proxy = await InProcessProxy.StartAsync($"http://127.0.0.1:{port}");
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[1000]), Cancel);

        await stop.CancelAsync();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => closer);
    }

    [Fact]
    public async Task UpstreamSilentPastTimeout_Returns504Json()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            // Never answers in time: waits for FastProxy to give up (or the test to end).
            await released.Task.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted);
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("UPSTREAM_TIMEOUT_SECONDS", "1"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        try
        {
            var started = DateTime.UtcNow;
            using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[1000]), Cancel);
            var elapsed = DateTime.UtcNow - started;

            await AssertOwnErrorAsync(response, HttpStatusCode.GatewayTimeout, "upstream_timeout");
            Assert.InRange(elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
        }
        finally
        {
            released.TrySetResult();
        }
    }

    [Fact]
    public async Task SlowButProgressingResponse_IsNotCutByTheSilenceTimeout()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, _) =>
        {
            context.Response.StatusCode = 200;
            // 4 s in total, longer than the 3 s timeout, but never silent for more than 0.2 s: the
            // timeout measures silence. The wide margin absorbs a busy CI machine's thread-pool
            // stalls (a 1 s timeout against 0.3 s gaps failed there once).
            for (var i = 0; i < 20; i++)
            {
                await context.Response.Body.WriteAsync(new byte[100], context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(200, context.RequestAborted);
            }
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("UPSTREAM_TIMEOUT_SECONDS", "3"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2000, (await response.Content.ReadAsByteArrayAsync(Cancel)).Length);
    }

    [Fact]
    public async Task SlowButSteadyRequestBody_IsNotCutByTheSilenceTimeout()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("UPSTREAM_TIMEOUT_SECONDS", "3"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        // The client itself is slow (the scenario, not synchronisation): 4 s of upload, longer than
        // the 3 s timeout, never silent for more than 0.2 s; the target waits for the whole body
        // before answering. The margin is wide for the reason given in the response test above.
        var content = new PushContent(async (stream, ct) =>
        {
            for (var i = 0; i < 20; i++)
            {
                await stream.WriteAsync(new byte[1000], ct);
                await stream.FlushAsync(ct);
                await Task.Delay(200, ct);
            }
        });
        using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), content, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(20_000, Assert.Single(upstream.Requests).Body!.Length);
    }

    [Fact]
    public async Task ClientAbortsMidResponse_UpstreamRequestIsCancelled()
    {
        var upstreamAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, _) =>
        {
            using var registration = context.RequestAborted.Register(() => upstreamAborted.TrySetResult());
            context.Response.StatusCode = 200;
            try
            {
                // An endless response, bounded by the test's own timeout.
                for (var i = 0; i < 10_000 && !context.RequestAborted.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(new byte[16 * 1024], context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    await Task.Delay(10, context.RequestAborted);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                upstreamAborted.TrySetResult();
            }
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        var response = await client.GetAsync(new Uri("/api/v1/query_range?query=up", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, Cancel);
        var stream = await response.Content.ReadAsStreamAsync(Cancel);
        Assert.True(await stream.ReadAsync(new byte[1024], Cancel) > 0);
        // The client goes away mid-response.
        response.Dispose();
        client.Dispose();

        await upstreamAborted.Task.WaitAsync(EventTimeout, Cancel);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ResponseBodyCutMidway_ClientSeesAnErrorNotASuccess(bool declareLength)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, _) =>
        {
            context.Response.StatusCode = 200;
            if (declareLength)
            {
                context.Response.ContentLength = 1024 * 1024;
            }

            await context.Response.Body.WriteAsync(new byte[200 * 1024], context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            context.Abort();
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.GetAsync(new Uri("/api/v1/query_range?query=up", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var failure = await Record.ExceptionAsync(() => response.Content.ReadAsByteArrayAsync(Cancel));
        Assert.True(failure is HttpRequestException or IOException,
            $"reading a cut body must fail; got {(failure is null ? "a complete body" : failure.GetType().Name)}");
    }

    /// <summary>
    /// A target that sends its status and headers and then closes before the first body byte:
    /// nothing of the response has reached the client, so it gets a clean 502 that says so. The
    /// body is read straight into the response pipe, which must not start the response early,
    /// over HTTP/1.1 or h2c.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ResponseBodyCutBeforeItsFirstByte_Returns502Json(bool h2c)
    {
        // Headers promising 1 MiB, then a clean close.
        await using var upstream = ScriptedUpstream.Start();
        upstream.Answer = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nContent-Type: application/json\r\n\r\n"u8.ToArray();
        var h2cPort = FreePort.Get();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("H2C_PORT", h2cPort.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var client = h2c
            ? TestHttp.CreateClient(new Uri($"http://127.0.0.1:{h2cPort}"), version: HttpVersion.Version20)
            : TestHttp.CreateClient(proxy.Address);

        using var response = await client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative), Cancel);

        Assert.Equal(h2c ? HttpVersion.Version20 : HttpVersion.Version11, response.Version);
        await AssertOwnErrorAsync(response, HttpStatusCode.BadGateway, "upstream_response_body");
        Assert.Equal(1, upstream.Requests);
    }

    [Fact]
    public async Task ClientAbortsMidBody_UpstreamRequestIsCancelled()
    {
        var upstreamGotBytes = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var upstreamAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, _) =>
        {
            using var registration = context.RequestAborted.Register(() => upstreamAborted.TrySetResult());
            try
            {
                var reader = context.Request.BodyReader;
                while (true)
                {
                    var read = await reader.ReadAsync(context.RequestAborted);
                    if (!read.Buffer.IsEmpty)
                    {
                        upstreamGotBytes.TrySetResult();
                    }

                    reader.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        // The body ended instead of being cut: FastProxy completed an aborted body.
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // Also counts: the body stream broke because FastProxy reset the upstream request.
                upstreamAborted.TrySetResult();
            }
        };
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var abort = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var content = new PushContent(async (stream, ct) =>
        {
            await stream.WriteAsync(new byte[64 * 1024], ct);
            await stream.FlushAsync(ct);
            // The client stalls mid-body until it is cancelled.
            await Task.Delay(Timeout.Infinite, ct);
        }, 10 * 1024 * 1024);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
        var send = client.SendAsync(request, abort.Token);

        await upstreamGotBytes.Task.WaitAsync(EventTimeout, Cancel);
        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);

        await upstreamAborted.Task.WaitAsync(EventTimeout, Cancel);
    }
}
