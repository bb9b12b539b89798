using System.Net;
using System.Net.Sockets;

namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// The ports child proxies are told to listen on must not be ones the kernel hands out on its own
/// (port 0 binds, outgoing connections' source ports): a CI run lost two tests to such a port taken
/// between <see cref="FreePort.Get"/> and the child's bind.
/// </summary>
public sealed class FreePortTests
{
    [Fact]
    public void Ports_ComeFromBelowTheEphemeralRange_AreFree_AndAreNotHandedOutTwice()
    {
        Assert.SkipUnless(FreePort.BelowEphemeralRange, $"this machine's ephemeral range starts at {FreePort.EphemeralLow}: FreePort falls back to port 0");

        var ports = Enumerable.Range(0, 200).Select(_ => FreePort.Get()).ToList();

        Assert.All(ports, port => Assert.InRange(port, FreePort.First, FreePort.EphemeralLow - 1));
        Assert.Equal(ports.Count, ports.Distinct().Count());
        using var listener = new TcpListener(IPAddress.Loopback, ports[^1]);
        listener.Start();
    }

    [Fact]
    public void PortsInUse_AreSteppedOver()
    {
        // Hold the ports after the one just handed out: the next ones FreePort tries.
        var first = FreePort.Get();
        var held = new List<TcpListener>();
        try
        {
            for (var port = first + 1; port <= first + 20; port++)
            {
                var listener = new TcpListener(IPAddress.Loopback, port);
                try
                {
                    listener.Start();
                    held.Add(listener);
                }
                catch (SocketException)
                {
                    listener.Dispose();
                }
            }

            Assert.NotEmpty(held);
            var heldPorts = held.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToHashSet();
            for (var i = 0; i < 30; i++)
            {
                Assert.DoesNotContain(FreePort.Get(), heldPorts);
            }
        }
        finally
        {
            held.ForEach(l => l.Dispose());
        }
    }
}
