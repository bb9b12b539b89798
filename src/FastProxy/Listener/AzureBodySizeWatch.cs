using System.Diagnostics.Metrics;
using FastProxy.Forwarding;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging;

namespace FastProxy.Listener;

/// <summary>
/// Flags requests that Azure Monitor will refuse for their size: a body above 1,000,000 bytes to an
/// ingestion endpoint is counted (fastproxy_requests_over_target_limit_total) and logged, at most
/// once per interval, naming the fix: a smaller max_samples_per_send. A declared Content-Length is
/// checked before forwarding (<see cref="RequestHandler"/>); a chunked body is flagged by the
/// forwarder's request content once its streamed byte count passes the limit, with that count.
/// The request is still forwarded; the target's own answer is the authority.
/// </summary>
internal sealed class AzureBodySizeWatch
{
    public const long AzureMonitorLimitBytes = 1_000_000;
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(60);

    private readonly Counter<long> _overLimit;
    private readonly ILogger _logger;
    private readonly LogThrottle _logThrottle;

    public AzureBodySizeWatch(Meter meter, ILogger logger, TimeProvider time)
    {
        _overLimit = meter.CreateCounter<long>("fastproxy_requests_over_target_limit_total", "{request}",
            "Requests to an Azure Monitor ingestion endpoint with a body above its 1 MB limit, by route; lower max_samples_per_send.");
        _logger = logger;
        _logThrottle = new LogThrottle(time, LogInterval);
    }

    /// <summary>Azure Monitor ingestion endpoints (public, government and China clouds).</summary>
    public static bool IsAzureMonitorIngestion(ProxyRoute route) =>
        route.Target.Host.Contains(".ingest.monitor.azure.", StringComparison.OrdinalIgnoreCase);

    public void Observe(ProxyRoute route, long contentLength)
    {
        if (contentLength <= AzureMonitorLimitBytes || !IsAzureMonitorIngestion(route))
        {
            return;
        }

        _overLimit.Add(1, new KeyValuePair<string, object?>("route", route.Name));
        if (_logThrottle.ShouldLog(out var suppressed))
        {
            Log.BodyTooLargeForAzureMonitor(_logger, contentLength, route.Name, suppressed);
        }
    }
}
