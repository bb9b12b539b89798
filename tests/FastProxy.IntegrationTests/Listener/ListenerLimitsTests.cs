using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;
using FastProxy.IntegrationTests.Telemetry;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// The listener's limits that a misbehaving or overwhelming client meets: requests in flight
/// (MAX_CONCURRENT_REQUESTS), slow headers, slow bodies, and connections. Raw sockets where the
/// client must misbehave; every wait bounded.
/// </summary>
public sealed class ListenerLimitsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly Uri Write = new("/api/v1/write", UriKind.Relative);

    /// <summary>Far below every other timeout in play (headers 30 s, keep-alive 130 s, upstream 60 s), far above the limits under test.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static async Task<InProcessProxy> StartAsync(FakeUpstream upstream, params (string Name, string Value)[] extra)
    {
        var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, extra);
        upstream.AcceptToken(proxy.Token);
        return proxy;
    }

    [Fact]
    public async Task RequestsOverTheLimit_Get503RetryAfterAndJson_ProbesStayOpen_AndAllDrains()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Behavior = async (context, recorded) =>
        {
            var held = Volatile.Read(ref gate).Task;
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            await held.WaitAsync(context.RequestAborted);
            context.Response.StatusCode = 200;
        };
        await using var proxy = await StartAsync(upstream, ("MAX_CONCURRENT_REQUESTS", "2"));
        using var client = TestHttp.CreateClient(proxy.Address);

        var first = client.PostAsync(Write, new ByteArrayContent([1]), Cancel);
        var second = client.PostAsync(Write, new ByteArrayContent([2]), Cancel);
        await upstream.WaitForRequestsAsync(2, Bound);

        using (var over = await client.PostAsync(Write, new ByteArrayContent([3]), Cancel))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, over.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), over.Headers.RetryAfter?.Delta);
            Assert.Equal("application/json", over.Content.Headers.ContentType?.MediaType);
            using var error = JsonDocument.Parse(await over.Content.ReadAsStringAsync(Cancel));
            Assert.Equal("concurrency_limit", error.RootElement.GetProperty("error").GetString());
            Assert.Contains("MAX_CONCURRENT_REQUESTS", error.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        // Probes and the scrape are not proxied requests: they answer while the limit is reached.
        using (var health = await client.GetAsync(new Uri("/health", UriKind.Relative), Cancel))
        using (var ready = await client.GetAsync(new Uri("/ready", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            // A declared length rather than chunked framing, for a body the kubelet reads every few seconds.
            Assert.NotEqual(true, health.Headers.TransferEncodingChunked);
            Assert.Equal("""{"status":"healthy"}""", await health.Content.ReadAsStringAsync(Cancel));
            Assert.Equal(20, health.Content.Headers.ContentLength);
        }

        var scrape = Scrape.Parse(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative), Cancel));
        Assert.Equal(1, scrape.Value("fastproxy_proxy_errors_total", ("kind", "concurrency_limit")));
        Assert.Equal(2, upstream.Requests.Count);

        gate.SetResult();
        using (var done1 = await first)
        using (var done2 = await second)
        {
            Assert.Equal(HttpStatusCode.OK, done1.StatusCode);
            Assert.Equal(HttpStatusCode.OK, done2.StatusCode);
        }

        // Drained: two requests may be held again at once.
        Volatile.Write(ref gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var third = client.PostAsync(Write, new ByteArrayContent([4]), Cancel);
        var fourth = client.PostAsync(Write, new ByteArrayContent([5]), Cancel);
        await upstream.WaitForRequestsAsync(4, Bound);
        gate.SetResult();
        using var done3 = await third;
        using var done4 = await fourth;
        Assert.Equal(HttpStatusCode.OK, done3.StatusCode);
        Assert.Equal(HttpStatusCode.OK, done4.StatusCode);
    }

    [Fact]
    public async Task FailedForwards_GiveTheirSlotBack()
    {
        // Each forward fails a different way (the target cuts the connection, then answers 500);
        // with one slot, a failure that kept its slot would turn the next request into 503.
        await using var upstream = await FakeUpstream.StartAsync();
        var calls = 0;
        upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            if (Interlocked.Increment(ref calls) % 2 == 1)
            {
                context.Abort();
                return;
            }

            context.Response.StatusCode = 500;
        };
        await using var proxy = await StartAsync(upstream, ("MAX_CONCURRENT_REQUESTS", "1"));

        // Connection: close, read until the proxy closes: Kestrel closes only once the forward has
        // ended, so each request starts after the one before it gave its slot back, or kept it.
        var statuses = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            statuses.Add(await RawHttp.SendAsync(proxy.Port, "POST", "/api/v1/write", Cancel));
        }

        Assert.Equal([502, 500, 502, 500], statuses);
        Assert.Equal(4, upstream.Requests.Count);
    }

    [Fact]
    public async Task HalfSentHeaders_ConnectionClosedAfterTheHeadersTimeout_NothingForwarded()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("REQUEST_HEADERS_TIMEOUT_SECONDS", "1"));
        using var socket = await ConnectAsync(proxy.Port);
        var stopwatch = Stopwatch.StartNew();

        await socket.SendAsync("POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"u8.ToArray(), SocketFlags.None, Cancel);
        var answer = await ReadUntilClosedAsync(socket);

        Assert.True(stopwatch.Elapsed < Bound, $"closed after {stopwatch.Elapsed}");
        // Kestrel answers 408 when it can; either way no request line reached the target.
        Assert.True(answer.Length == 0 || answer.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), answer);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task StalledBody_ConnectionClosedByTheMinimumDataRate_NeverAnsweredWithSuccess()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(
            new Dictionary<string, string> { ["TARGET_HOST"] = upstream.BaseUrl, ["MIN_REQUEST_BODY_DATA_RATE"] = "1000" },
            // Kestrel's grace must exceed its one-second heartbeat; 5 s in production.
            options => options with { Security = options.Security with { MinDataRateGrace = TimeSpan.FromSeconds(2) } });
        upstream.AcceptToken(proxy.Token);
        using var socket = await ConnectAsync(proxy.Port);
        var stopwatch = Stopwatch.StartNew();

        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n" + new string('a', 10)), SocketFlags.None, Cancel);
        var answer = await ReadUntilClosedAsync(socket);

        Assert.True(stopwatch.Elapsed < Bound, $"closed after {stopwatch.Elapsed}");
        Assert.DoesNotContain("HTTP/1.1 2", answer, StringComparison.Ordinal);
        Assert.DoesNotContain(upstream.Requests, r => r.Body is { Length: 100000 });
    }

    [Fact]
    public async Task ConnectionsOverTheLimit_AreClosedUnanswered_UntilOneCloses()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("MAX_CONCURRENT_CONNECTIONS", "2"));
        var first = await ConnectAsync(proxy.Port);
        using var second = await ConnectAsync(proxy.Port);
        // A full exchange on each proves both were accepted and are counted.
        Assert.StartsWith("HTTP/1.1 200", await HealthOnOpenConnectionAsync(first), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", await HealthOnOpenConnectionAsync(second), StringComparison.Ordinal);

        using (var third = await ConnectAsync(proxy.Port))
        {
            await third.SendAsync(HealthRequest, SocketFlags.None, Cancel);
            Assert.Equal("", await ReadUntilClosedAsync(third));
        }

        first.Dispose();
        // Kestrel releases the slot when it notices the close: retry, bounded.
        var deadline = DateTime.UtcNow + Bound;
        var answer = "";
        while (!answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            using var next = await ConnectAsync(proxy.Port);
            await next.SendAsync(HealthRequest, SocketFlags.None, Cancel);
            answer = await ReadUntilClosedAsync(next, stopAt: "healthy");
            if (!answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
            {
                await Task.Delay(100, Cancel);
            }
        }

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
    }

    private static readonly byte[] HealthRequest = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray();

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), Cancel);
        return socket;
    }

    private static async Task<string> HealthOnOpenConnectionAsync(Socket socket)
    {
        await socket.SendAsync(HealthRequest, SocketFlags.None, Cancel);
        return await ReadUntilClosedAsync(socket, stopAt: "healthy");
    }

    /// <summary>Reads until the server closes (or resets) the connection, or <paramref name="stopAt"/> arrives; fails after <see cref="Bound"/>.</summary>
    private static async Task<string> ReadUntilClosedAsync(Socket socket, string? stopAt = null)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        timeout.CancelAfter(Bound);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (stopAt is null || !received.ToString().Contains(stopAt, StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    break;
                }

                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (SocketException)
        {
            // Reset by the server: closed as well.
        }
        catch (OperationCanceledException) when (!Cancel.IsCancellationRequested)
        {
            throw new TimeoutException($"the connection stayed open for {Bound.TotalSeconds} s; received so far: '{received}'");
        }

        return received.ToString();
    }
}
