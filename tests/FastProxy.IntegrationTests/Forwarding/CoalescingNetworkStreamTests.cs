using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using FastProxy.Forwarding;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// The upstream connection's stream holds one small write inside the body copy's write and sends
/// it with the next one, so the request head and the body after it leave in one send
/// (perf-baselines/CHANGES.md, round 16). Real sockets on loopback; what arrives is read back.
/// </summary>
public sealed class CoalescingNetworkStreamTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task InsideABodyWrite_TheFirstSmallWriteWaitsForTheNextAndBothArriveInOrder()
    {
        await using var pair = await SocketPair.ConnectAsync();
        var head = Pattern(4096, seed: 1);
        var body = Pattern(9000, seed: 2);

        Task second;
        using (BodyWriteScope.Enter())
        {
            Assert.True(CompletedAtOnce(pair.Stream.WriteAsync(head, Cancel)));
            Assert.Equal(head.Length, pair.Stream.HeldLength);
            second = pair.Stream.WriteAsync(body, Cancel).AsTask();
            Assert.Equal(0, pair.Stream.HeldLength);
        }

        await second;
        Assert.Equal(head.Concat(body).ToArray(), await pair.ReadAsync(head.Length + body.Length));
    }

    [Fact]
    public async Task TheEndOfTheBodyWrite_SendsWhatIsStillHeld()
    {
        await using var pair = await SocketPair.ConnectAsync();
        var head = Pattern(3000, seed: 3);

        using (BodyWriteScope.Enter())
        {
            Assert.True(CompletedAtOnce(pair.Stream.WriteAsync(head, Cancel)));
            Assert.Equal(head.Length, pair.Stream.HeldLength);
        }

        Assert.Equal(0, pair.Stream.HeldLength);
        Assert.Equal(head, await pair.ReadAsync(head.Length));

        // The connection's next write follows the held one.
        var next = Pattern(500, seed: 4);
        await pair.Stream.WriteAsync(next, Cancel);
        Assert.Equal(next, await pair.ReadAsync(next.Length));
    }

    [Fact]
    public async Task OutsideABodyWrite_OrAboveTheLimit_WritesGoStraightOut()
    {
        await using var pair = await SocketPair.ConnectAsync();
        var small = Pattern(100, seed: 5);
        var large = Pattern(CoalescingNetworkStream.HoldLimit + 1, seed: 6);

        await pair.Stream.WriteAsync(small, Cancel);
        Assert.Equal(0, pair.Stream.HeldLength);
        Assert.Equal(small, await pair.ReadAsync(small.Length));

        Task write;
        using (BodyWriteScope.Enter())
        {
            write = pair.Stream.WriteAsync(large, Cancel).AsTask();
            Assert.Equal(0, pair.Stream.HeldLength);
        }

        await write;
        Assert.Equal(large, await pair.ReadAsync(large.Length));
    }

    [Fact]
    public async Task OneConnectionHoldsPerBodyWrite()
    {
        await using var first = await SocketPair.ConnectAsync();
        await using var second = await SocketPair.ConnectAsync();
        var a = Pattern(200, seed: 7);
        var b = Pattern(300, seed: 8);

        Task secondWrite;
        using (BodyWriteScope.Enter())
        {
            Assert.True(CompletedAtOnce(first.Stream.WriteAsync(a, Cancel)));
            secondWrite = second.Stream.WriteAsync(b, Cancel).AsTask();
            Assert.Equal(a.Length, first.Stream.HeldLength);
            Assert.Equal(0, second.Stream.HeldLength);
        }

        await secondWrite;
        Assert.Equal(a, await first.ReadAsync(a.Length));
        Assert.Equal(b, await second.ReadAsync(b.Length));
    }

    [Fact]
    public async Task AFlush_SendsWhatIsHeld()
    {
        await using var pair = await SocketPair.ConnectAsync();
        var head = Pattern(1000, seed: 9);

        Task flush;
        using (BodyWriteScope.Enter())
        {
            Assert.True(CompletedAtOnce(pair.Stream.WriteAsync(head, Cancel)));
            flush = pair.Stream.FlushAsync(Cancel);
            Assert.Equal(0, pair.Stream.HeldLength);
        }

        await flush;
        Assert.Equal(head, await pair.ReadAsync(head.Length));
    }

    [Fact]
    public async Task AHeldWriteThatCannotBeSent_FailsTheConnectionsNextWrite()
    {
        await using var pair = await SocketPair.ConnectAsync();

        using (BodyWriteScope.Enter())
        {
            Assert.True(CompletedAtOnce(pair.Stream.WriteAsync(Pattern(1000, seed: 10), Cancel)));
            // The connection can no longer send: the held bytes' send at the scope's end fails.
            pair.Client.Shutdown(SocketShutdown.Send);
        }

        var failed = await Assert.ThrowsAsync<IOException>(() => pair.Stream.WriteAsync(Pattern(10, seed: 11), Cancel).AsTask());
        Assert.IsType<IOException>(failed.InnerException);
    }

    [Fact]
    public async Task ThroughTheProxy_TheRequestHeadAndA12KBodyReachTheTargetInOneRead()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var target = Task.Run(() => ReadOneRequestAsync(listener));
        await using var proxy = await InProcessProxy.StartAsync($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}");
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = Fixtures.RemoteWrite().Single(fixture => fixture.Name.Contains("12826", StringComparison.Ordinal)).Body;

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var (firstRead, whole, bodyLength) = await target.WaitAsync(Bound, Cancel);
        Assert.Equal(body.Length, bodyLength);
        // Before round 16 the target's first read got SocketsHttpHandler's 4 KB buffer alone.
        Assert.True(firstRead == whole, $"the target's first read got {firstRead} of the request's {whole} bytes");
    }

    private static async Task<(int FirstRead, int Whole, int BodyLength)> ReadOneRequestAsync(TcpListener listener)
    {
        using var timeout = new CancellationTokenSource(Bound);
        using var socket = await listener.AcceptSocketAsync(timeout.Token);
        var buffer = new byte[256 * 1024];
        var firstRead = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        var received = firstRead;
        int headEnd;
        while ((headEnd = buffer.AsSpan(0, received).IndexOf("\r\n\r\n"u8)) < 0)
        {
            received += await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, timeout.Token);
        }

        var head = Encoding.ASCII.GetString(buffer, 0, headEnd);
        var lengthLine = head.Split("\r\n").Single(line => line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var bodyLength = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var whole = headEnd + 4 + bodyLength;
        while (received < whole)
        {
            received += await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, timeout.Token);
        }

        await socket.SendAsync("HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray(), SocketFlags.None, timeout.Token);
        return (firstRead, whole, bodyLength);
    }

    // A held write completes before anything is sent.
    private static bool CompletedAtOnce(ValueTask write)
    {
        var completed = write.IsCompletedSuccessfully;
        write.GetAwaiter().GetResult();
        return completed;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A connected loopback pair: the stream under test on one end, a plain socket on the other.</summary>
    private sealed class SocketPair : IAsyncDisposable
    {
        private SocketPair(Socket client, Socket server)
        {
            Client = client;
            Server = server;
            Stream = new CoalescingNetworkStream(client);
        }

        public Socket Client { get; }

        public Socket Server { get; }

        public CoalescingNetworkStream Stream { get; }

        public static async Task<SocketPair> ConnectAsync()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var accept = listener.AcceptSocketAsync(Cancel).AsTask();
            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint, Cancel);
            return new SocketPair(client, await accept.WaitAsync(Bound, Cancel));
        }

        public async Task<byte[]> ReadAsync(int length)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
            timeout.CancelAfter(Bound);
            var bytes = new byte[length];
            var read = 0;
            while (read < length)
            {
                var n = await Server.ReceiveAsync(bytes.AsMemory(read), SocketFlags.None, timeout.Token);
                Assert.True(n > 0, $"the connection ended after {read} of {length} bytes");
                read += n;
            }

            return bytes;
        }

        public ValueTask DisposeAsync()
        {
            Stream.Dispose();
            Server.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
