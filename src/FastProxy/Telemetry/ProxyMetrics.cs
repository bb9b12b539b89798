using System.Diagnostics;
using System.Diagnostics.Metrics;
using FastProxy.Forwarding;
using FastProxy.Identity;

namespace FastProxy.Telemetry;

/// <summary>
/// FastProxy's instruments, on one <see cref="Meter"/> named <see cref="MeterName"/> per server.
/// The names are the Prometheus names the scrape endpoint and the dashboards use; OTLP carries the
/// same names.
/// </summary>
/// <remarks>
/// Hot-path cost: an instrument nobody listens to returns after one field check, and every label
/// value is a string from the tables below, so a <see cref="TagList"/> (a struct holding up to
/// eight tags inline) never allocates. Labels are bounded: route names come from the
/// configuration, methods outside <see cref="Methods"/> are "other", statuses are classes.
/// No path, query, user agent or header value is ever a label.
/// </remarks>
internal sealed class ProxyMetrics : IDisposable
{
    public const string MeterName = "FastProxy";

    /// <summary>Seconds; from 5 ms (a local target) to a minute (UPSTREAM_TIMEOUT_SECONDS' default).</summary>
    internal static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    private static readonly string[] StatusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    public const string Aborted = "aborted";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _upstreamDuration;
    private readonly Counter<long> _requestBytes;
    private readonly Counter<long> _responseBytes;
    private readonly UpDownCounter<long> _inFlight;
    private readonly Counter<long> _upstreamErrors;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _upstreamErrorResponses;
    private readonly Counter<long> _tokenRefreshes;
    private readonly Histogram<double> _tokenFetchDuration;

    public ProxyMetrics(Func<IEnumerable<TokenSource>>? tokens = null, TimeProvider? time = null)
    {
        var version = BuildVersion;
        Meter = new Meter(MeterName, version);
        _requests = Meter.CreateCounter<long>("fastproxy_requests_total", "{request}",
            "Proxied requests by route, method and status class of the answer (aborted: the client left before a status).");
        _duration = Meter.CreateHistogram<double>("fastproxy_request_duration_seconds", "s",
            "Time from the request's arrival to the last byte of the answer.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _upstreamDuration = Meter.CreateHistogram<double>("fastproxy_upstream_duration_seconds", "s",
            "The target's part: from sending the request until its response headers arrived.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _requestBytes = Meter.CreateCounter<long>("fastproxy_request_bytes_total", "By",
            "Request body bytes sent to the target, counted as they stream (chunked bodies included).");
        _responseBytes = Meter.CreateCounter<long>("fastproxy_response_bytes_total", "By",
            "Response body bytes relayed to clients, counted as they stream.");
        _inFlight = Meter.CreateUpDownCounter<long>("fastproxy_requests_in_flight", "{request}",
            "Requests being forwarded now.");
        _upstreamErrors = Meter.CreateCounter<long>("fastproxy_upstream_errors_total", "{error}",
            "Requests that failed at the target, by kind: connect, tls, timeout, protocol, reset.");
        _rejected = Meter.CreateCounter<long>("fastproxy_proxy_errors_total", "{error}",
            "Requests FastProxy could not forward for its own or the client's reasons: no_token, bad_request_target, bad_request_body, unauthorized, forbidden_source, body_too_large, no_route, concurrency_limit (MAX_CONCURRENT_REQUESTS; answered 503), client_certificate (mTLS handshake refused), client_gone.");
        _upstreamErrorResponses = Meter.CreateCounter<long>("fastproxy_upstream_error_responses_total", "{response}",
            "Responses of the target with status 400 or more, by route and status class (relayed unchanged).");
        _tokenRefreshes = Meter.CreateCounter<long>("fastproxy_token_refreshes_total", "{refresh}",
            "Token fetches by scope, identity and outcome: success, or the failure kind (timeout, unreachable, rejected, throttled, …).");
        _tokenFetchDuration = Meter.CreateHistogram<double>("fastproxy_token_fetch_duration_seconds", "s",
            "Time spent fetching one token from the identity endpoint.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });

        if (tokens is not null)
        {
            var clock = time ?? TimeProvider.System;
            Meter.CreateObservableGauge("fastproxy_token_expiry_seconds", () => ObserveExpiry(tokens(), clock), "s",
                "Seconds until the held token expires, by scope and identity (absent while none is held).");
            Meter.CreateObservableGauge("fastproxy_token_usable", () => ObserveUsable(tokens(), clock), "",
                "1 while the token of the scope and identity may be sent, else 0 (requests get 503).");
        }

        var runtime = Environment.Version.ToString();
        Meter.CreateObservableGauge("fastproxy_build_info", () => new Measurement<long>(1, new("version", version), new("runtime", runtime)), "",
            "Always 1; the labels say which FastProxy and .NET runtime run.");
    }

    public Meter Meter { get; }

    internal static string BuildVersion { get; } = typeof(ProxyMetrics).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>A method label from a fixed set; Kestrel interns known methods, so this is reference compares.</summary>
    public static string MethodLabel(string method)
    {
        foreach (var known in Methods)
        {
            if (ReferenceEquals(known, method) || string.Equals(known, method, StringComparison.Ordinal))
            {
                return known;
            }
        }

        return "other";
    }

    public static string StatusClass(int status) => status is >= 100 and <= 599 ? StatusClasses[(status / 100) - 1] : "other";

    // Hot path: each is one Add/Record on a struct TagList of table strings.

    public void RequestStarted(string route) => _inFlight.Add(1, new KeyValuePair<string, object?>("route", route));

    public void RequestBytes(string route, long bytes) => _requestBytes.Add(bytes, new KeyValuePair<string, object?>("route", route));

    public void ResponseBytes(string route, long bytes) => _responseBytes.Add(bytes, new KeyValuePair<string, object?>("route", route));

    public void UpstreamResponded(string route, TimeSpan elapsed, int status)
    {
        _upstreamDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", route));
        if (status >= 400)
        {
            _upstreamErrorResponses.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("status_class", StatusClass(status)));
        }
    }

    public void RequestCompleted(string route, string method, string statusClass, TimeSpan elapsed)
    {
        var tags = new TagList { { "route", route }, { "method", method }, { "status_class", statusClass } };
        _requests.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("status_class", statusClass));
        // Last: a request leaves "in flight" only once it is counted, so no scrape sees it as neither.
        _inFlight.Add(-1, new KeyValuePair<string, object?>("route", route));
    }

    /// <summary>Counts a failure by the label of <see cref="ErrorKind"/>; the two counters split target from proxy/client trouble.</summary>
    public void Failed(ForwarderError error)
    {
        var (upstream, kind) = ErrorKind(error);
        (upstream ? _upstreamErrors : _rejected).Add(1, new KeyValuePair<string, object?>("kind", kind));
    }

    public static (bool Upstream, string Kind) ErrorKind(ForwarderError error) => error switch
    {
        ForwarderError.UpstreamUnreachable => (true, "connect"),
        ForwarderError.UpstreamTls => (true, "tls"),
        ForwarderError.UpstreamTimeout => (true, "timeout"),
        ForwarderError.UpstreamProtocol => (true, "protocol"),
        ForwarderError.RequestBodyUpstream or ForwarderError.ResponseBodyUpstream => (true, "reset"),
        ForwarderError.NoToken => (false, "no_token"),
        ForwarderError.RequestTargetRejected => (false, "bad_request_target"),
        ForwarderError.RequestBodyInvalid => (false, "bad_request_body"),
        ForwarderError.InboundUnauthorized => (false, "unauthorized"),
        ForwarderError.SourceNotAllowed => (false, "forbidden_source"),
        ForwarderError.RequestBodyTooLarge => (false, "body_too_large"),
        ForwarderError.NoRoute => (false, "no_route"),
        ForwarderError.ConcurrencyLimitReached => (false, "concurrency_limit"),
        ForwarderError.ClientCertificateRejected => (false, "client_certificate"),
        _ => (false, "client_gone"),
    };

    public void TokenFetched(string scope, string identity, string outcome, TimeSpan elapsed)
    {
        _tokenRefreshes.Add(1, new KeyValuePair<string, object?>("scope", scope), new KeyValuePair<string, object?>("identity", identity),
            new KeyValuePair<string, object?>("outcome", outcome));
        _tokenFetchDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("scope", scope), new KeyValuePair<string, object?>("identity", identity));
    }

    private static IEnumerable<Measurement<double>> ObserveExpiry(IEnumerable<TokenSource> sources, TimeProvider time)
    {
        var now = time.GetUtcNow();
        foreach (var source in sources)
        {
            if (source.Current is { } token)
            {
                yield return new Measurement<double>((token.ExpiresOn - now).TotalSeconds,
                    new KeyValuePair<string, object?>("scope", source.Scope), new KeyValuePair<string, object?>("identity", source.Identity));
            }
        }
    }

    private static IEnumerable<Measurement<long>> ObserveUsable(IEnumerable<TokenSource> sources, TimeProvider time)
    {
        var now = time.GetUtcNow();
        foreach (var source in sources)
        {
            yield return new Measurement<long>(source.HasUsableToken(now) ? 1 : 0,
                new KeyValuePair<string, object?>("scope", source.Scope), new KeyValuePair<string, object?>("identity", source.Identity));
        }
    }

    public void Dispose() => Meter.Dispose();
}
