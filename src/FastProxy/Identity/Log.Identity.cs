using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>
/// Identity log lines added with the identity kinds and start-up wait, kept beside the code that
/// writes them (as Kestrel splits its trace by area). Ids 200–203 are in Log.cs; this file uses
/// 210–219. Highest id in use here: 216.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 210, Level = LogLevel.Information, Message = "Certificate {Path} loaded: {Certificate}, valid until {NotAfter:O}")]
    public static partial void CertificateLoaded(ILogger logger, string path, string certificate, DateTime notAfter);

    [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "Certificate file {Path} changed; now using {Certificate}, valid until {NotAfter:O}. The held token stays in use until the new certificate has fetched the next one")]
    public static partial void CertificateReloaded(ILogger logger, string path, string certificate, DateTime notAfter);

    [LoggerMessage(EventId = 212, Level = LogLevel.Information, Message = "Client secret from {Source} changed; the next token is fetched with the new secret")]
    public static partial void ClientSecretChanged(ILogger logger, string source);

    [LoggerMessage(EventId = 213, Level = LogLevel.Information, Message = "Waiting up to {Seconds} s for the first token of every route before listening (WAIT_FOR_TOKEN_SECONDS)")]
    public static partial void WaitingForFirstToken(ILogger logger, double seconds);

    [LoggerMessage(EventId = 214, Level = LogLevel.Information, Message = "Every route holds a token after {ElapsedMs:0} ms; opening the listener")]
    public static partial void FirstTokensHeld(ILogger logger, double elapsedMs);

    [LoggerMessage(EventId = 215, Level = LogLevel.Warning, Message = "No token for {Scope} after waiting {Seconds} s ({Reason}); opening the listener anyway: requests get 503 until a token is held")]
    public static partial void FirstTokenTimedOut(ILogger logger, string scope, double seconds, string reason);

    [LoggerMessage(EventId = 216, Level = LogLevel.Warning, Message = "IDENTITY_TYPE is azurecli: tokens come from the Azure CLI account signed in on this machine. This is for development only; use a managed, workload or application identity in production")]
    public static partial void DevelopmentCredential(ILogger logger);
}
