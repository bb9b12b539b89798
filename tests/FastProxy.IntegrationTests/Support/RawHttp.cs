using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// An HTTP/1.1 exchange over a bare socket, for request targets that HttpClient would rewrite
/// (dot segments, unusual escapes): the request line goes out exactly as written.
/// </summary>
internal static class RawHttp
{
    /// <summary>Sends <paramref name="method"/> <paramref name="target"/> with Connection: close and returns the status code.</summary>
    public static async Task<int> SendAsync(int port, string method, string target, CancellationToken cancellationToken) =>
        (await ExchangeAsync(port, $"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", cancellationToken)).Status;

    /// <summary>Sends <paramref name="request"/> as it is (head and body) and reads the response until the server closes.</summary>
    public static async Task<(int Status, string Text)> ExchangeAsync(int port, string request, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, cancellationToken);

        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
        }

        var text = Encoding.ASCII.GetString(received.ToArray());
        var statusLine = text.Split("\r\n", 2)[0];
        var parts = statusLine.Split(' ');
        if (parts.Length < 2 || !int.TryParse(parts[1], out var status))
        {
            throw new InvalidOperationException($"not an HTTP response: '{statusLine}'");
        }

        return (status, text);
    }

    /// <summary>
    /// Sends a POST with a <paramref name="length"/>-byte body while reading the response at the same
    /// time, as Go's HTTP client (Prometheus) does: a server that answers before it has read the
    /// whole body is heard, where HttpClient would only report the broken upload. Returns the
    /// status and text of the response (status 0 when none came), the body bytes sent when its
    /// first byte arrived, and in all.
    /// </summary>
    public static async Task<(int Status, string Text, long SentWhenAnswered, long Sent)> PostWhileReadingAsync(int port, string target, long length, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), deadline.Token);
        var head = $"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {length}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head), SocketFlags.None, deadline.Token);

        long sent = 0;
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        var writer = Task.Run(async () =>
        {
            var block = new byte[64 * 1024];
            try
            {
                while (sent < length)
                {
                    var size = (int)Math.Min(block.Length, length - sent);
                    sent += await socket.SendAsync(block.AsMemory(0, size), SocketFlags.None, stopWriting.Token);
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // The server stopped reading or closed: the answer, if any, is on the read side.
            }
        });

        var received = new MemoryStream();
        var buffer = new byte[4096];
        long sentWhenAnswered = -1;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
                if (read == 0)
                {
                    break;
                }

                if (sentWhenAnswered < 0)
                {
                    sentWhenAnswered = Interlocked.Read(ref sent);
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            // Reset after (or instead of) the answer; what arrived before counts.
        }

        await stopWriting.CancelAsync();
        await writer;
        var text = Encoding.ASCII.GetString(received.ToArray());
        var parts = text.Split("\r\n", 2)[0].Split(' ');
        var status = parts.Length >= 2 && int.TryParse(parts[1], out var parsed) ? parsed : 0;
        return (status, text, sentWhenAnswered, Interlocked.Read(ref sent));
    }
}
