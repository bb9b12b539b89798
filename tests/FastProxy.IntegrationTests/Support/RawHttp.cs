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
}
