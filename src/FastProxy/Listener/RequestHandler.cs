using System.Net;
using System.Text.Json;
using FastProxy.Diagnostics;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FastProxy.Listener;

/// <summary>
/// The one request delegate: the probe paths aad-auth-proxy answered and /metrics, then
/// forwarding. No routing middleware: a few string comparisons decide.
/// </summary>
/// <remarks>
/// /metrics on the listening port shadows a target's /metrics, as /health and /ready do; with
/// METRICS_PORT set, the three are answered on that port only (besides /health and /ready on the
/// listening port, kept for aad-auth-proxy's probes) and /metrics on the listening port is proxied.
/// The inbound checks (ALLOWED_SOURCE_CIDRS, INBOUND_TOKEN_FILE) guard everything that borrows the
/// proxy's identity or shows traffic: forwarding and the tap endpoint. The probes stay open for the
/// kubelet, and so does /metrics: it shows counters and never uses the credential (METRICS_PORT
/// moves it off the listening port).
/// </remarks>
internal sealed class RequestHandler
{
    private static readonly byte[] HealthyJson = "{\"status\":\"healthy\"}"u8.ToArray();
    private static readonly byte[] NotFoundJson = "{\"error\":\"not_found\",\"message\":\"The metrics port serves /metrics, /health and /ready only.\"}"u8.ToArray();

    private readonly RouteTable _routes;
    private readonly HttpForwarder _forwarder;
    private readonly ErrorResponder _errors;
    private readonly TokenSources _tokens;
    private readonly PrometheusScrape? _scrape;
    private readonly int _metricsPort;
    private readonly bool _scrapeOnListener;

    // Only when the tap is on: its summaries name metrics, which an open port should not reveal
    // unless the operator asked for them.
    private readonly PayloadTap? _tap;

    // Inbound security (issue 7). Both null/empty when off; the probes and /metrics never pass here.
    private readonly InboundToken? _inboundToken;
    private readonly IPNetwork[] _allowedSources;
    private readonly long _maxBodyBytes;
    private readonly AzureBodySizeWatch? _azureBodySize;

    // mTLS: the handshake on the listening port already refused clients without a trusted
    // certificate; this catches the plain metrics port, where the tap endpoint is served.
    private readonly bool _requireClientCertificate;

    // MAX_CONCURRENT_REQUESTS; null for unlimited. Only forwarded requests are counted.
    private readonly ConcurrencyLimit? _limit;

    public RequestHandler(RouteTable routes, HttpForwarder forwarder, ErrorResponder errors, TokenSources tokens,
        PrometheusScrape? scrape = null, int? metricsPort = null, PayloadTap? tap = null,
        SecurityOptions? security = null, InboundToken? inboundToken = null, AzureBodySizeWatch? azureBodySize = null)
    {
        _inboundToken = inboundToken;
        _allowedSources = [.. security?.AllowedSourceNetworks ?? []];
        _maxBodyBytes = security?.MaxRequestBodyBytes ?? long.MaxValue;
        _requireClientCertificate = security?.Tls is { RequiresClientCertificate: true };
        _limit = security?.MaxConcurrentRequests is > 0 and var max ? new ConcurrencyLimit(max) : null;
        _azureBodySize = azureBodySize;
        _tap = tap is { Enabled: true } ? tap : null;
        _routes = routes;
        _forwarder = forwarder;
        _errors = errors;
        _tokens = tokens;
        _scrape = scrape;
        _metricsPort = metricsPort ?? 0;
        _scrapeOnListener = scrape is not null && metricsPort is null;
    }

    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        if (_metricsPort != 0 && context.Connection.LocalPort == _metricsPort)
        {
            return HandleMetricsPortAsync(context, path);
        }

        if (_scrapeOnListener && path is "/metrics")
        {
            return WriteMetricsAsync(context);
        }

        if (path is "/health")
        {
            return WriteHealthAsync(context);
        }

        if (_tap is not null && _metricsPort == 0 && path is TapEndpoint.Path)
        {
            return Refusal(context) is { } refused ? _errors.ReportAsync(context, refused, null).AsTask() : TapEndpoint.WriteAsync(context, _tap);
        }

        if (path is "/ready")
        {
            return WriteReadyAsync(context);
        }

        // Everything below borrows the proxy's identity: the client must be allowed first.
        if (Refusal(context) is { } refusal)
        {
            return _errors.ReportAsync(context, refusal, null).AsTask();
        }

        var rawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        if (rawTarget.Length == 0 || rawTarget[0] != '/' || HttpMethods.IsConnect(context.Request.Method))
        {
            // Absolute-form ("http://other-host/…") and asterisk-form targets: forwarding them would
            // let a client pick the upstream, which must only ever be the configured target. CONNECT
            // asks for a tunnel, never a forward, whatever its target (Kestrel accepts one with a path).
            return _errors.ReportAsync(context, ForwarderError.RequestTargetRejected, null).AsTask();
        }

        var route = _routes.Match(rawTarget);
        if (route is null)
        {
            // Only a routes file without a catch-all "/" gets here. 404, not 5xx: "never 4xx for
            // FastProxy's own trouble" covers what can pass (a missing token, an unreachable
            // target), and a 5xx asks the client to retry. An unmatched path is the operator's
            // configuration and no retry can change it; Prometheus retrying it forever would stall
            // its queue, and 404 is what the target itself answers for a path it does not serve.
            // The rate-limited Warning log and the no_route counter make it visible.
            return _errors.ReportAsync(context, ForwarderError.NoRoute, null).AsTask();
        }

        if (context.Request.ContentLength is { } length)
        {
            if (length > _maxBodyBytes)
            {
                // Kestrel would refuse it too, but only once the body is read (mid-forward) and with
                // an empty body; answering before forwarding names the fix.
                return _errors.ReportAsync(context, ForwarderError.RequestBodyTooLarge, null).AsTask();
            }

            _azureBodySize?.Observe(route, length);
        }

        if (_limit is not null && !_limit.TryEnter())
        {
            return _errors.ReportAsync(context, ForwarderError.ConcurrencyLimitReached, null).AsTask();
        }

        // The forward gives the slot back when it ends, however it ends.
        return _forwarder.ForwardAsync(context, route, rawTarget, _limit);
    }

    /// <summary>
    /// Null when the client may use the proxy's identity: it came over mTLS (when TLS_CLIENT_CA_FILE
    /// is set), its address is in ALLOWED_SOURCE_CIDRS (when set) and it sent the
    /// INBOUND_TOKEN_FILE token (when set).
    /// </summary>
    private ForwarderError? Refusal(HttpContext context)
    {
        if (_requireClientCertificate && context.Connection.ClientCertificate is null)
        {
            return ForwarderError.ClientCertificateRejected;
        }

        if (_allowedSources.Length > 0 && !IsAllowedSource(context.Connection.RemoteIpAddress))
        {
            return ForwarderError.SourceNotAllowed;
        }

        if (_inboundToken is not null && !_inboundToken.IsAuthorized(context.Request.Headers.Authorization))
        {
            return ForwarderError.InboundUnauthorized;
        }

        return null;
    }

    private bool IsAllowedSource(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; IPv4 ranges must match them.
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _allowedSources)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The metrics port answers the three operator paths and nothing is forwarded from it.</summary>
    private Task HandleMetricsPortAsync(HttpContext context, string? path) => path switch
    {
        "/metrics" when _scrape is not null => WriteMetricsAsync(context),
        TapEndpoint.Path when _tap is not null => Refusal(context) is { } refused
            ? _errors.ReportAsync(context, refused, null).AsTask()
            : TapEndpoint.WriteAsync(context, _tap),
        "/health" => WriteHealthAsync(context),
        "/ready" => WriteReadyAsync(context),
        _ => WriteNotFoundAsync(context),
    };

    private Task WriteMetricsAsync(HttpContext context)
    {
        // Not the hot path: a scrape every 15-60 s, text built from the aggregated series.
        var text = _scrape!.Collect();
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = PrometheusScrape.ContentType;
        return context.Response.WriteAsync(text, context.RequestAborted);
    }

    private static Task WriteNotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return WriteJsonAsync(context, NotFoundJson);
    }

    private static Task WriteHealthAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        return WriteJsonAsync(context, HealthyJson);
    }

    /// <summary>
    /// A fixed body with its length: the kubelet probes /health every few seconds, and a declared
    /// length spares it chunked framing (perf-baselines/CHANGES.md, round 8).
    /// </summary>
    private static Task WriteJsonAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body).AsTask();
    }

    private async Task WriteReadyAsync(HttpContext context)
    {
        var ready = _tokens.IsReady(out var notReady);
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        if (!ready)
        {
            context.Response.Headers.RetryAfter = ErrorResponder.RetryAfterSeconds;
        }

        using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            if (ready)
            {
                json.WriteString("status", "ready");
            }
            else
            {
                json.WriteString("error", "not_ready");
                json.WriteString("message", DescribeNotReady(notReady!));
            }

            json.WriteStartArray("tokens");
            foreach (var source in _tokens.All)
            {
                json.WriteStartObject();
                json.WriteString("scope", source.Scope);
                if (source.Name != source.Scope)
                {
                    // A route's own identity (routes file): which one asks for this scope.
                    json.WriteString("source", source.Name);
                }
                if (source.Current is { } token)
                {
                    json.WriteString("expiresOn", token.ExpiresOn);
                    json.WriteString("refreshOn", token.RefreshOn);
                }

                if (source.LastFailure is { } failure)
                {
                    json.WriteString("lastFailure", failure);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static string DescribeNotReady(TokenSource source) => source switch
    {
        { Current: not null, LastFailure: { } failure } => $"the token for {source.Name} expired and could not be renewed: {failure}",
        { Current: not null } => $"the token for {source.Name} expired; a new one is being fetched",
        { LastFailure: { } failure } => $"no token for {source.Name} yet: {failure}",
        _ => $"no token for {source.Name} yet: the first one is being fetched",
    };
}
