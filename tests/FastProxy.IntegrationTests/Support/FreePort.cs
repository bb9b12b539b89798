using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace FastProxy.IntegrationTests.Support;

/// <summary>Ports on 127.0.0.1 for child processes that must be told their port up front.</summary>
/// <remarks>
/// A port taken by binding to port 0 comes from the kernel's ephemeral range, and so does the source
/// port of every outgoing connection and every other socket bound to port 0 — in this process and in
/// the test assemblies running beside it. Between handing such a port out and the child binding it,
/// any of those could take it: the child then failed with "address already in use", and its readiness
/// polls reached whichever test's server had the port (a CI run saw both at once). So the ports come
/// from below the ephemeral range, which nothing takes by accident, in turn from a random starting
/// point, each checked free before it is handed out. Only when the machine's ephemeral range leaves no
/// room below it does this fall back to port 0.
/// </remarks>
internal static class FreePort
{
    // Above the ports bench/ scripts use (18000–19500) and the well-known ones.
    internal const int First = 20000;

    /// <summary>The lowest port of the kernel's ephemeral range (First when it cannot be read).</summary>
    internal static readonly int EphemeralLow = ReadEphemeralLow();

    /// <summary>False when the ephemeral range leaves too little room below it, and ports come from port 0.</summary>
    internal static bool BelowEphemeralRange => EphemeralLow - First >= 1000;

    private static int s_next = Random.Shared.Next(Math.Max(1, EphemeralLow - First));

    public static int Get()
    {
        if (BelowEphemeralRange)
        {
            var span = EphemeralLow - First;
            for (var attempt = 0; attempt < 500; attempt++)
            {
                var port = First + (int)((uint)Interlocked.Increment(ref s_next) % (uint)span);
                if (IsFree(port))
                {
                    return port;
                }
            }
        }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int ReadEphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return First;
        }
    }
}
