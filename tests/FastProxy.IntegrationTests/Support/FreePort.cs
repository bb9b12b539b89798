using System.Net;
using System.Net.Sockets;

namespace FastProxy.IntegrationTests.Support;

/// <summary>Ports on 127.0.0.1 for child processes that must be told their port up front.</summary>
internal static class FreePort
{
    /// <summary>
    /// A port that was free a moment ago: bound to port 0, read, closed. Another process could take
    /// it in between; on a test machine that race is rare and shows up as a bind error, not a wrong result.
    /// </summary>
    public static int Get()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
