namespace FastProxy.Forwarding;

/// <summary>
/// Which side failed, and where. Every failure of a proxied request becomes one of these and is
/// answered in one place (<see cref="ErrorResponder"/>), so the status mapping lives in one table.
/// </summary>
internal enum ForwarderError
{
    /// <summary>No usable Entra token yet, or it expired: 503 + Retry-After.</summary>
    NoToken,

    /// <summary>Connection refused, reset, or DNS failure before the response: 502.</summary>
    UpstreamUnreachable,

    /// <summary>TLS handshake with the target failed: 502.</summary>
    UpstreamTls,

    /// <summary>The target answered something that is not HTTP, or closed before its headers: 502.</summary>
    UpstreamProtocol,

    /// <summary>The target did not answer (or connect) within the timeout: 504.</summary>
    UpstreamTimeout,

    /// <summary>Sending the request body to the target failed: 502.</summary>
    RequestBodyUpstream,

    /// <summary>The client stopped sending its body or went away: nothing can be answered.</summary>
    RequestBodyClient,

    /// <summary>
    /// The response body from the target broke off: 502 if none of it had reached the client yet,
    /// else a connection reset (a second status line is impossible).
    /// </summary>
    ResponseBodyUpstream,

    /// <summary>The client went away while the response streamed: nothing to answer.</summary>
    ResponseBodyClient,

    /// <summary>The request target is not an origin-form path this proxy forwards: 400.</summary>
    RequestTargetRejected,

    /// <summary>
    /// A remote-write 2.0 body to translate (TRANSLATE_REMOTE_WRITE_V2) cannot be decoded: 400,
    /// since retrying the same bytes can never succeed.
    /// </summary>
    RequestBodyInvalid,

    /// <summary>
    /// INBOUND_TOKEN_FILE is set and the request's bearer token is missing or wrong: 401. A 4xx on
    /// purpose: the client's configuration is wrong, and retrying the same request can never help.
    /// </summary>
    InboundUnauthorized,

    /// <summary>The client's address is outside ALLOWED_SOURCE_CIDRS: 403.</summary>
    SourceNotAllowed,

    /// <summary>The declared body is larger than MAX_REQUEST_BODY_BYTES: 413.</summary>
    RequestBodyTooLarge,

    /// <summary>
    /// No route of ROUTES_FILE matches the path: 404, like the target itself for a path it does
    /// not serve. Not FastProxy's trouble but the configuration's (see RequestHandler).
    /// </summary>
    NoRoute,

    /// <summary>
    /// MAX_CONCURRENT_REQUESTS requests are already in flight: 503 + Retry-After: 1. A 5xx on
    /// purpose: the overload passes, and Prometheus retries 503, so no sample is lost.
    /// </summary>
    ConcurrencyLimitReached,

    /// <summary>
    /// TLS_CLIENT_CA_FILE is set and the client presented no certificate chaining to it: the
    /// handshake fails (counted here), and on the plain metrics port the tap endpoint answers 403.
    /// </summary>
    ClientCertificateRejected,
}
