using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using FastProxy.Configuration;

namespace FastProxy.Forwarding;

/// <summary>The one place the upstream connection pool is configured.</summary>
internal static class UpstreamHandlerFactory
{
    public static HttpMessageInvoker Create(ProxyOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            // aad-auth-proxy kept 2 idle connections per host; a Prometheus shard at 500 requests/s
            // with 50 ms round trips needs ~25 at once, and a Deployment serves several shards.
            MaxConnectionsPerServer = options.MaxConnectionsPerServer,
            PooledConnectionLifetime = options.PooledConnectionLifetime,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            ConnectTimeout = options.ConnectTimeout,
            EnableMultipleHttp2Connections = true,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            // Proxy settings come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (the default system proxy on Linux).
            UseProxy = true,
            // Trace propagation is decided by the forwarder, not implicitly per request.
            ActivityHeadersPropagator = null,
            // The handler's own connect, with a stream that sends the request head and the body
            // after it together (CoalescingNetworkStream).
            ConnectCallback = ConnectAsync,
        };

        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    internal static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        // As SocketsHttpHandler connects by itself: a dual-mode socket, Nagle off, every address
        // of the name tried in turn. Its errors keep their type, so the handler still tells a
        // name that does not resolve from a refused connection.
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new CoalescingNetworkStream(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
