using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace FastProxy.Telemetry;

/// <summary>
/// Spans of proxied requests: a server span per request, continuing the client's
/// <c>traceparent</c>, and a client span for the upstream call whose context is sent upstream.
/// </summary>
/// <remarks>
/// Only constructed when tracing is on (OTEL_GRPC_ENDPOINT set and a sample ratio above 0); with
/// tracing off the forwarder holds null and does no Activity work at all. The parent is taken from
/// the request's header explicitly rather than from <see cref="Activity.Current"/>, so a span never
/// hangs off an unrecorded framework activity. Propagation is done here, not by
/// SocketsHttpHandler (whose ActivityHeadersPropagator stays null), so it happens exactly when a
/// span was recorded.
/// </remarks>
internal sealed class ProxyTracing
{
    public const string SourceName = "FastProxy";

    private static readonly ActivitySource Source = new(SourceName, ProxyMetrics.BuildVersion);

    /// <summary>Starts the request's server span, or returns null when the sampler drops it.</summary>
    public static Activity? StartRequest(HttpContext context, string route, string method)
    {
        var headers = context.Request.Headers;
        var traceparent = headers.TraceParent;
        ActivityContext parent = default;
        if (traceparent.Count == 1)
        {
            var tracestate = headers.TraceState;
            _ = ActivityContext.TryParse(traceparent.ToString(), tracestate.Count == 1 ? tracestate.ToString() : null, isRemote: true, out parent);
        }

        // No header: a new root, never whatever Activity.Current happens to be.
        Activity.Current = null;
        var activity = Source.StartActivity(ActivityKind.Server, parent, name: method + " " + route);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("http.request.method", method);
            activity.SetTag("fastproxy.route", route);
            activity.SetTag("url.scheme", context.Request.Scheme);
            activity.SetTag("network.protocol.version", context.Request.Protocol);
        }

        return activity;
    }

    /// <summary>
    /// Starts the upstream call's client span under <paramref name="request"/> and puts its
    /// context in the upstream request's traceparent (replacing the client's, which the span continues).
    /// </summary>
    public static Activity? StartUpstream(Activity? requestSpan, HttpRequestMessage upstream)
    {
        if (requestSpan is null)
        {
            return null;
        }

        var activity = Source.StartActivity(ActivityKind.Client, requestSpan.Context, name: upstream.Method.Method);
        var context = activity?.Context ?? requestSpan.Context;
        upstream.Headers.Remove("traceparent");
        upstream.Headers.TryAddWithoutValidation("traceparent",
            $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}");
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("server.address", upstream.RequestUri?.Host);
            activity.SetTag("server.port", upstream.RequestUri?.Port);
            activity.SetTag("http.request.method", upstream.Method.Method);
        }

        return activity;
    }

    /// <summary>Ends both spans with the status and, on failure, the error kind.</summary>
    public static void Stop(Activity? requestSpan, Activity? upstreamSpan, int upstreamStatus, int status, string? errorKind)
    {
        if (upstreamSpan is not null)
        {
            if (upstreamStatus > 0)
            {
                upstreamSpan.SetTag("http.response.status_code", upstreamStatus);
            }

            if (upstreamStatus >= 500 || (upstreamStatus == 0 && errorKind is not null))
            {
                upstreamSpan.SetStatus(ActivityStatusCode.Error);
                upstreamSpan.SetTag("error.type", errorKind ?? upstreamStatus.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            upstreamSpan.Dispose();
        }

        if (requestSpan is not null)
        {
            if (status > 0)
            {
                requestSpan.SetTag("http.response.status_code", status);
            }

            if (status >= 500 || errorKind is not null)
            {
                requestSpan.SetStatus(ActivityStatusCode.Error);
                requestSpan.SetTag("error.type", errorKind ?? status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            requestSpan.Dispose();
        }
    }
}
