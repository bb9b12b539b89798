using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>Listener and inbound security log lines; ids 600–629 (TLS: 610–619; connections Kestrel ended: 620). Highest id in use here: 620.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "Inbound token file {Path} changed; the new token is required from now on")]
    public static partial void InboundTokenReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "Inbound token file {Path} could not be re-read ({Reason}); the token held so far stays in force")]
    public static partial void InboundTokenUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 602, Level = LogLevel.Warning, Message = "Request body of {ContentLength} bytes on route {Route} exceeds the 1 MB Azure Monitor accepts ({Suppressed} similar requests not logged in the last interval); lower max_samples_per_send in Prometheus' remote_write queue_config")]
    public static partial void BodyTooLargeForAzureMonitor(ILogger logger, long contentLength, string route, long suppressed);

    [LoggerMessage(EventId = 603, Level = LogLevel.Debug, Message = "Start-up code released: {Mappings} mappings of the executable, {ReleasedMb:0.0} MB advised out; resident {BeforeMb:0.0} MB before, {AfterMb:0.0} MB after (error number {Error}; 0 = none)")]
    public static partial void StartupCodeReleased(ILogger logger, int mappings, double releasedMb, double beforeMb, double afterMb, int error);

    [LoggerMessage(EventId = 610, Level = LogLevel.Information, Message = "Listener TLS certificate {Certificate} from {Path} in use, valid until {NotAfter:O}; client CAs: {ClientCaCount}")]
    public static partial void ListenerCertificateLoaded(ILogger logger, string certificate, string path, DateTime notAfter, int clientCaCount);

    [LoggerMessage(EventId = 611, Level = LogLevel.Warning, Message = "Listener TLS files changed but could not be loaded: {Setting} {Reason}; certificate {InUse} stays in use until a good file replaces it")]
    public static partial void ListenerTlsReloadFailed(ILogger logger, string setting, string reason, string inUse);

    [LoggerMessage(EventId = 620, Level = LogLevel.Warning, Message = "Client connection ended by the listener: {Reason}: {Advice} ({Suppressed} similar endings not logged in the last interval)")]
    public static partial void ClientConnectionEnded(ILogger logger, string reason, string advice, long suppressed);

    [LoggerMessage(EventId = 612, Level = LogLevel.Warning, Message = "TLS handshake refused: {Reason} ({Suppressed} similar refusals not logged in the last interval)")]
    public static partial void ClientCertificateRefused(ILogger logger, string reason, long suppressed);
}
