using System.Net;
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
        };

        return new HttpMessageInvoker(handler, disposeHandler: true);
    }
}
