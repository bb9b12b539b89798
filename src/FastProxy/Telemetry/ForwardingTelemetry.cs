using System.Diagnostics;
using FastProxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Telemetry;

/// <summary>What the forwarder tracks of one request; a struct in its state machine, never allocated.</summary>
internal struct RequestMeasurement
{
    public string Route;
    public string Method;
    public long StartedAt;
    public long SentAt;
    public int UpstreamStatus;
    public ForwarderError? Error;
    public Activity? Span;
    public Activity? UpstreamSpan;

    /// <summary>The first KiB of an upstream error response's body; null for every other response.</summary>
    public ErrorExcerpt? Excerpt;

    /// <summary>Notes the failure for the span and returns it, so a report site stays one line.</summary>
    public ForwarderError Fail(ForwarderError error)
    {
        Error = error;
        return error;
    }
}

/// <summary>
/// The forwarder's one telemetry collaborator: metrics, the traffic summary, spans when tracing is
/// on, the Debug per-request line and the upstream-error log. Each forwarding step makes at most
/// one or two calls here; costly work (spans, excerpts, formatting) is behind a check.
/// </summary>
internal sealed class ForwardingTelemetry
{
    private static readonly TimeSpan ErrorLogInterval = TimeSpan.FromSeconds(10);

    private readonly ProxyMetrics _metrics;
    private readonly TrafficSummary? _summary;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly bool _tracing;

    // The upstream error-response log, limited per status class (4xx, 5xx).
    private readonly LogThrottle[] _errorLogThrottles;

    public ForwardingTelemetry(ProxyMetrics metrics, TrafficSummary? summary, ILogger logger, TimeProvider time, bool tracing)
    {
        _metrics = metrics;
        _summary = summary;
        _logger = logger;
        _time = time;
        _errorLogThrottles = LogThrottle.Many(6, time, ErrorLogInterval);
        _tracing = tracing;
    }

    /// <summary>Instruments nobody listens to, no summary, no tracing: for benchmarks and unit tests.</summary>
    public static ForwardingTelemetry Unobserved(TimeProvider time) => new(new ProxyMetrics(), null, NullLogger.Instance, time, tracing: false);

    public ProxyMetrics Metrics => _metrics;

    public RequestMeasurement Begin(HttpContext context, string route)
    {
        var method = ProxyMetrics.MethodLabel(context.Request.Method);
        _metrics.RequestStarted(route);
        return new RequestMeasurement
        {
            Route = route,
            Method = method,
            StartedAt = _time.GetTimestamp(),
            Span = _tracing ? ProxyTracing.StartRequest(context, route, method) : null,
        };
    }

    public void Sending(ref RequestMeasurement measure, HttpRequestMessage request)
    {
        measure.SentAt = _time.GetTimestamp();
        if (measure.Span is not null)
        {
            measure.UpstreamSpan = ProxyTracing.StartUpstream(measure.Span, request);
        }
    }

    /// <summary>Response headers arrived: the upstream part of the duration; an error status starts a body excerpt.</summary>
    public void Responded(ref RequestMeasurement measure, int status, string token)
    {
        measure.UpstreamStatus = status;
        _metrics.UpstreamResponded(measure.Route, _time.GetElapsedTime(measure.SentAt), status);
        if (status >= 400 && _logger.IsEnabled(LogLevel.Warning))
        {
            measure.Excerpt = new ErrorExcerpt(token);
        }
    }

    public void RequestBytes(string route, long bytes)
    {
        _metrics.RequestBytes(route, bytes);
        _summary?.RequestBytes(bytes);
    }

    public void ResponseBytes(string route, long bytes)
    {
        _metrics.ResponseBytes(route, bytes);
        _summary?.ResponseBytes(bytes);
    }

    /// <summary>Called by <see cref="ErrorResponder"/>, the one reporting point, for every failure.</summary>
    public void Failed(ForwarderError error)
    {
        _metrics.Failed(error);
        _summary?.Failed(error);
    }

    public void End(ref RequestMeasurement measure, HttpContext context)
    {
        var elapsed = _time.GetElapsedTime(measure.StartedAt);
        var response = context.Response;
        var status = response.StatusCode;
        var statusClass = context.RequestAborted.IsCancellationRequested && !response.HasStarted ? ProxyMetrics.Aborted : ProxyMetrics.StatusClass(status);
        _metrics.RequestCompleted(measure.Route, measure.Method, statusClass, elapsed);
        _summary?.RequestCompleted(elapsed);
        if (measure.Span is not null)
        {
            var kind = measure.Error is { } error ? ProxyMetrics.ErrorKind(error).Kind : null;
            ProxyTracing.Stop(measure.Span, measure.UpstreamSpan, measure.UpstreamStatus, status, kind);
        }

        if (measure.Excerpt is { } excerpt)
        {
            LogUpstreamError(measure.Route, measure.UpstreamStatus, excerpt);
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.RequestCompleted(_logger, measure.Method, measure.Route, status, elapsed.TotalMilliseconds);
        }
    }

    private void LogUpstreamError(string route, int status, ErrorExcerpt excerpt)
    {
        // An outage turns every response into an error: one line per status class per interval.
        var index = Math.Clamp(status / 100, 0, 5);
        if (_errorLogThrottles[index].ShouldLog(out var suppressed))
        {
            Log.UpstreamErrorResponse(_logger, route, status, suppressed, excerpt.Text());
        }
    }
}
