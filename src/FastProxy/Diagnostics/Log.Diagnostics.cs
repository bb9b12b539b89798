using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>Diagnostics tap log lines; ids 500–509. Highest id in use here: 501.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 500, Level = LogLevel.Debug, Message = "Tap: a sampled body on route {Route} is not remote write: {Reason}")]
    public static partial void TapNotRemoteWrite(ILogger logger, string route, string reason);

    [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "remote-write 2.0 body on route {Route} could not be translated to 1.0: {Reason}")]
    public static partial void TranslationFailed(ILogger logger, string route, string reason);
}
