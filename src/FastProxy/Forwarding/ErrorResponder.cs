using System.Buffers;
using FastProxy.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace FastProxy.Forwarding;

/// <summary>
/// The one reporting point for forwarding failures: sets the status from DESIGN.md's table,
/// writes a small JSON body with a Content-Type, logs (rate-limited per kind) and counts.
/// FastProxy never answers 4xx for its own trouble: Prometheus drops a batch on 4xx. The 4xx it
/// does answer (bad request target, undecodable body, inbound token, source address, body size)
/// are the client's trouble, which no retry can fix (an overload, MAX_CONCURRENT_REQUESTS, is 503).
/// </summary>
internal sealed class ErrorResponder
{
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly LogThrottle[] _logThrottles;

    private readonly ForwardingTelemetry? _telemetry;

    public ErrorResponder(ILogger logger, TimeProvider time, ForwardingTelemetry? telemetry = null)
    {
        _logger = logger;
        _logThrottles = LogThrottle.Many(Enum.GetValues<ForwarderError>().Length, time, LogInterval);
        _telemetry = telemetry;
    }

    /// <summary>Seconds a client should wait when no token is held; Prometheus honours Retry-After on 5xx.</summary>
    public const string RetryAfterSeconds = "5";

    /// <summary>Seconds a client should wait when MAX_CONCURRENT_REQUESTS is reached: an overload clears quickly.</summary>
    public const string OverloadRetryAfterSeconds = "1";

    public static int StatusFor(ForwarderError error) => error switch
    {
        ForwarderError.NoToken or ForwarderError.ConcurrencyLimitReached => StatusCodes.Status503ServiceUnavailable,
        ForwarderError.UpstreamTimeout => StatusCodes.Status504GatewayTimeout,
        ForwarderError.RequestTargetRejected or ForwarderError.RequestBodyInvalid => StatusCodes.Status400BadRequest,
        ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient => 0,
        // Inbound security and limits: 4xx on purpose. The client's configuration (its token, its
        // address, its batch size) is wrong and the same request can never succeed; a 5xx would make
        // Prometheus retry it forever and stall its queue behind it.
        ForwarderError.InboundUnauthorized => StatusCodes.Status401Unauthorized,
        ForwarderError.SourceNotAllowed or ForwarderError.ClientCertificateRejected => StatusCodes.Status403Forbidden,
        ForwarderError.RequestBodyTooLarge => StatusCodes.Status413PayloadTooLarge,
        ForwarderError.NoRoute => StatusCodes.Status404NotFound,
        _ => StatusCodes.Status502BadGateway,
    };

    // Precomputed bodies: an outage turns every request into an error, so answering must not allocate.
    private static ReadOnlySpan<byte> BodyFor(ForwarderError error) => error switch
    {
        ForwarderError.NoToken =>
            "{\"error\":\"no_token\",\"message\":\"FastProxy holds no valid Entra token yet; retry later. /ready and the log say why.\"}"u8,
        ForwarderError.UpstreamUnreachable =>
            "{\"error\":\"upstream_unreachable\",\"message\":\"FastProxy could not connect to the target; check TARGET_HOST and DNS, and that the target is up.\"}"u8,
        ForwarderError.UpstreamTls =>
            "{\"error\":\"upstream_tls\",\"message\":\"The TLS handshake with the target failed; check the target's certificate and TARGET_HOST's scheme.\"}"u8,
        ForwarderError.UpstreamProtocol =>
            "{\"error\":\"upstream_protocol\",\"message\":\"The target closed the connection or answered something that is not HTTP.\"}"u8,
        ForwarderError.UpstreamTimeout =>
            "{\"error\":\"upstream_timeout\",\"message\":\"The target did not answer in time (UPSTREAM_TIMEOUT_SECONDS).\"}"u8,
        ForwarderError.RequestBodyUpstream =>
            "{\"error\":\"upstream_request_body\",\"message\":\"Sending the request body to the target failed.\"}"u8,
        ForwarderError.ResponseBodyUpstream =>
            "{\"error\":\"upstream_response_body\",\"message\":\"The target sent its status, then its response body broke off before any of it was relayed.\"}"u8,
        ForwarderError.RequestTargetRejected =>
            "{\"error\":\"bad_request_target\",\"message\":\"Only origin-form request targets (a path starting with /) are forwarded.\"}"u8,
        ForwarderError.RequestBodyInvalid =>
            "{\"error\":\"bad_remote_write_body\",\"message\":\"The remote-write 2.0 body could not be decoded for translation to 1.0; the log says which field failed.\"}"u8,
        ForwarderError.InboundUnauthorized =>
            "{\"error\":\"unauthorized\",\"message\":\"Send Authorization: Bearer <token> with the token in INBOUND_TOKEN_FILE (Prometheus: authorization.credentials_file).\"}"u8,
        ForwarderError.SourceNotAllowed =>
            "{\"error\":\"forbidden_source\",\"message\":\"The client's address is not in ALLOWED_SOURCE_CIDRS.\"}"u8,
        ForwarderError.RequestBodyTooLarge =>
            "{\"error\":\"request_body_too_large\",\"message\":\"The request body exceeds MAX_REQUEST_BODY_BYTES. For Prometheus remote write lower max_samples_per_send in queue_config (Azure Monitor accepts at most 1 MB per request).\"}"u8,
        ForwarderError.NoRoute =>
            "{\"error\":\"no_route\",\"message\":\"No route in FastProxy's ROUTES_FILE matches this path; add a route for it, or a catch-all route with \\\"pathPrefix\\\": \\\"/\\\".\"}"u8,
        ForwarderError.ConcurrencyLimitReached =>
            "{\"error\":\"concurrency_limit\",\"message\":\"FastProxy is forwarding MAX_CONCURRENT_REQUESTS requests already; retry after Retry-After. Raise the limit or add replicas if this persists.\"}"u8,
        ForwarderError.ClientCertificateRejected =>
            "{\"error\":\"client_certificate_required\",\"message\":\"TLS_CLIENT_CA_FILE is set: connect over TLS to LISTENING_PORT with a client certificate issued by one of its CAs.\"}"u8,
        _ => "{\"error\":\"proxy_error\",\"message\":\"FastProxy could not forward the request.\"}"u8,
    };

    /// <param name="closeConnection">
    /// Answer with <c>Connection: close</c>: the client's body broke off mid-way and the rest is not
    /// worth reading away to keep the connection.
    /// </param>
    public async ValueTask ReportAsync(HttpContext context, ForwarderError error, Exception? exception, bool closeConnection = false)
    {
        LogRateLimited(error, exception);
        _telemetry?.Failed(error);
        var status = StatusFor(error);
        if (status == 0)
        {
            // Usually the client is gone and there is nobody to answer. But a body the client
            // could not deliver (a malformed chunk, say) also lands here while the client still
            // waits: returning would let Kestrel answer 200 for a request never forwarded, which
            // Prometheus counts as written. Resetting the connection makes it retry instead.
            if (!context.Response.HasStarted)
            {
                context.Abort();
            }

            return;
        }

        var response = context.Response;
        if (response.HasStarted)
        {
            // A second status line is impossible; resetting the connection tells the client the
            // response is incomplete instead of letting a truncated body look like success.
            context.Features.Get<IHttpResetFeature>()?.Reset(errorCode: 2 /* INTERNAL_ERROR */);
            context.Abort();
            return;
        }

        response.Clear();
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (closeConnection && !HttpProtocol.IsHttp2(context.Request.Protocol) && !HttpProtocol.IsHttp3(context.Request.Protocol))
        {
            // HTTP/1.x only: HTTP/2 has no such header (the stream ends, the connection stays).
            response.Headers.Connection = "close";
        }

        if (error == ForwarderError.NoToken)
        {
            response.Headers.RetryAfter = RetryAfterSeconds;
        }
        else if (error == ForwarderError.ConcurrencyLimitReached)
        {
            response.Headers.RetryAfter = OverloadRetryAfterSeconds;
        }
        else if (error == ForwarderError.InboundUnauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer";
        }

        var body = BodyFor(error);
        response.ContentLength = body.Length;
        response.BodyWriter.Write(body);
        try
        {
            await response.BodyWriter.FlushAsync(context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client left while we answered.
        }
    }

    private void LogRateLimited(ForwarderError error, Exception? exception)
    {
        if (error is ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var kind = error.ToString();
                Log.ClientWentAway(_logger, kind);
            }

            return;
        }

        if (_logThrottles[(int)error].ShouldLog(out var suppressed) && _logger.IsEnabled(LogLevel.Warning))
        {
            var detail = exception?.GetBaseException().Message ?? "";
            Log.ForwardingFailed(_logger, error.ToString(), StatusFor(error), suppressed, detail);
        }
    }
}
