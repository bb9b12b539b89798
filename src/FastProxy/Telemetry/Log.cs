using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>
/// Every log line FastProxy writes, source-generated. Event ids are grouped by area:
/// 1xx start-up and configuration, 2xx identity, 3xx forwarding, 4xx telemetry.
/// Highest id in use: 401 (identity's 21x are in Identity/Log.Identity.cs, the routes file's 11x in Configuration/Log.Configuration.cs).
/// </summary>
internal static partial class Log
{
    // 1xx: start-up and shutdown
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "FastProxy {Version} starting: {Setting}")]
    public static partial void EffectiveSetting(ILogger logger, string version, string setting);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Listening on {Endpoints} after {ElapsedMs:0} ms; the first token is fetched in the background")]
    public static partial void Listening(ILogger logger, string endpoints, double elapsedMs);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Shutting down: new connections refused, in-flight requests get up to {DrainSeconds} s")]
    public static partial void ShuttingDown(ILogger logger, double drainSeconds);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Listening on all interfaces without inbound authentication: anyone who reaches port {Port} can use this proxy's Entra identity. Use LISTEN_ADDRESS=127.0.0.1 for a sidecar, or a NetworkPolicy")]
    public static partial void OpenListener(ILogger logger, int port);

    // 2xx: identity
    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Token for {Scope} acquired in {ElapsedMs:0} ms; expires {ExpiresOn:O}, next refresh {RefreshOn:O}")]
    public static partial void TokenAcquired(ILogger logger, string scope, DateTimeOffset expiresOn, DateTimeOffset refreshOn, double elapsedMs);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "Token for {Scope} could not be fetched: {Reason}. Retrying with backoff; the held token stays in use until {UsableUntil:O} (none held if empty)")]
    public static partial void TokenFetchFailed(ILogger logger, string scope, string reason, DateTimeOffset? usableUntil);

    [LoggerMessage(EventId = 202, Level = LogLevel.Debug, Message = "Token for {Scope}: attempt {Attempt} failed the same way: {Reason}")]
    public static partial void TokenFetchFailedAgain(ILogger logger, string scope, int attempt, string reason);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Token for {Scope} acquired again after {Failures} failed attempts")]
    public static partial void TokenRecovered(ILogger logger, string scope, int failures);

    // 3xx: forwarding
    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Request failed: {Error}, answered {Status} ({Suppressed} similar failures not logged in the last interval): {Detail}")]
    public static partial void ForwardingFailed(ILogger logger, string error, int status, long suppressed, string detail);

    [LoggerMessage(EventId = 301, Level = LogLevel.Debug, Message = "Client went away ({Error}); upstream request cancelled")]
    public static partial void ClientWentAway(ILogger logger, string error);

    [LoggerMessage(EventId = 305, Level = LogLevel.Debug, Message = "{Method} {Route} -> {Status} in {ElapsedMs:0.0} ms")]
    public static partial void RequestCompleted(ILogger logger, string method, string route, int status, double elapsedMs);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Target answered {Status} on route {Route} ({Suppressed} similar responses not logged in the last interval); body (first 1 KiB): {Body}")]
    public static partial void UpstreamErrorResponse(ILogger logger, string route, int status, long suppressed, string body);

    // 4xx: telemetry
    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Last {IntervalSeconds:0} s: {Requests} requests, {RequestBytes} bytes in, {ResponseBytes} bytes out, duration avg {AverageMs:0.0} ms max {MaxMs:0.0} ms, {FailureCount} failures ({Failures})")]
    public static partial void TrafficSummary(ILogger logger, double intervalSeconds, long requests, long requestBytes, long responseBytes,
        double averageMs, double maxMs, long failureCount, string failures);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "OTLP export to {Endpoint} could not be set up: {Reason}; metrics stay available on /metrics")]
    public static partial void OtlpSetupFailed(ILogger logger, string endpoint, string reason);
}
