using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>
/// Log lines of a routes file read again while running, beside the code that writes them. Ids
/// 100–103 are start-up lines in Log.cs; this file uses 110–119. Highest id in use here: 112.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Routes file {Path} changed: {Routes} route(s) now in force; {Added} token source(s) started, {Retired} retired")]
    public static partial void RoutesApplied(ILogger logger, string path, int routes, int added, int retired);

    [LoggerMessage(EventId = 111, Level = LogLevel.Information, Message = "Routes file {Path}: {Route}")]
    public static partial void RouteInForce(ILogger logger, string path, string route);

    [LoggerMessage(EventId = 112, Level = LogLevel.Warning, Message = "Routes file {Path} changed but is not applied; the routes in force stay until it is fixed: {Problem}")]
    public static partial void RoutesRefused(ILogger logger, string path, string problem);
}
