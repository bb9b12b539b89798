using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// A minimal HTTP forward proxy on loopback that only speaks CONNECT: it reads the request head,
/// records the authority, dials it, answers 200 and pipes bytes both ways until either side closes.
/// Anything else is answered 405 and recorded too, so a test can tell what reached it.
/// </summary>
internal sealed class ConnectProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _requestLines = new();
    private readonly ConcurrentBag<Task> _tunnels = [];
    private readonly ChangeSignal _changed = new();
    private readonly Task _accepting;

    public ConnectProxy()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>The first line of every request head received, e.g. "CONNECT 127.0.0.1:4431 HTTP/1.1".</summary>
    public IReadOnlyList<string> RequestLines => [.. _requestLines];

    public Task WaitForRequestsAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => _requestLines.Count >= count, timeout, $"{count} request(s) at the CONNECT proxy (got {_requestLines.Count})");

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _tunnels.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var head = await ReadHeadAsync(stream, _stop.Token);
            var requestLine = head.Split("\r\n")[0];
            _requestLines.Enqueue(requestLine);
            _changed.Notify();

            var parts = requestLine.Split(' ');
            if (parts.Length != 3 || parts[0] != "CONNECT")
            {
                await stream.WriteAsync("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token);
                return;
            }

            var colon = parts[1].LastIndexOf(':');
            using var target = new TcpClient();
            await target.ConnectAsync(parts[1][..colon].Trim('[', ']'), int.Parse(parts[1][(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), _stop.Token);
            await stream.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray(), _stop.Token);
            var upstream = target.GetStream();
            var up = PipeAsync(stream, upstream, target.Client);
            var down = PipeAsync(upstream, stream, client.Client);
            await Task.WhenAny(up, down);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A tunnel ends when either side goes away.
        }
    }

    private async Task PipeAsync(Stream from, Stream to, Socket toSocket)
    {
        try
        {
            await from.CopyToAsync(to, _stop.Token);
            toSocket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Closed.
        }
    }

    /// <summary>Reads byte by byte up to the blank line, so nothing after the head is consumed.</summary>
    private static async Task<string> ReadHeadAsync(Stream stream, CancellationToken cancel)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 16 * 1024)
        {
            if (await stream.ReadAsync(one, cancel) == 0)
            {
                throw new IOException("closed before the end of the request head");
            }

            head.Add(one[0]);
            if (head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n')
            {
                return Encoding.ASCII.GetString([.. head]);
            }
        }

        throw new IOException("request head too long");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_tunnels).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }
}
