using System.Diagnostics.Metrics;
using System.Globalization;
using FastProxy.Configuration;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging;

namespace FastProxy.Listener;

/// <summary>
/// Kestrel answers malformed and over-limit requests itself — 400, 408, 413, 431 with an empty body,
/// or a closed connection — before FastProxy sees them, so neither the client nor the operator
/// would learn which limit was hit. Kestrel records why each connection ended (the error.type tag
/// of kestrel.connection.duration, and kestrel.rejected_connections); this turns that into
/// fastproxy_client_connection_errors_total{reason} and a log line naming the setting to change.
/// </summary>
internal sealed class ClientConnectionErrors : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(60);

    private readonly Counter<long> _errors;
    private readonly ILogger _logger;
    private readonly SecurityOptions _security;
    private readonly object _scope;
    private readonly MeterListener _listener;
    private readonly LogThrottle _logThrottle;

    /// <param name="kestrelMeterScope">
    /// The IMeterFactory of this server's host: Kestrel's meter carries it as its scope, so servers
    /// sharing a process (tests) each count only their own connections.
    /// </param>
    public ClientConnectionErrors(Meter meter, object kestrelMeterScope, SecurityOptions security, ILogger logger, TimeProvider time)
    {
        _errors = meter.CreateCounter<long>("fastproxy_client_connection_errors_total", "{connection}",
            "Client connections the listener ended for a broken limit or malformed HTTP (Kestrel answered 400/408/413/431 itself or closed), by reason.");
        _scope = kestrelMeterScope;
        _security = security;
        _logger = logger;
        _logThrottle = new LogThrottle(time, LogInterval);
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == KestrelMeter && ReferenceEquals(instrument.Meter.Scope, _scope) &&
                    instrument.Name is "kestrel.connection.duration" or "kestrel.rejected_connections")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<double>((_, _, tags, _) => OnConnectionEnded(tags));
        _listener.SetMeasurementEventCallback<long>((_, _, _, _) => Record("max_concurrent_connections_exceeded"));
        _listener.Start();
    }

    private void OnConnectionEnded(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "error.type" && tag.Value is string reason)
            {
                Record(reason);
                return;
            }
        }
    }

    private void Record(string kestrelReason)
    {
        var (reason, advice) = Describe(kestrelReason);
        if (reason is null)
        {
            return;
        }

        _errors.Add(1, new KeyValuePair<string, object?>("reason", reason));
        if (_logThrottle.ShouldLog(out var suppressed))
        {
            Log.ClientConnectionEnded(_logger, reason, advice, suppressed);
        }
    }

    /// <summary>
    /// The reason label — Kestrel's own words from its fixed list, so they match its documentation
    /// and stay few — and what the operator can do. Null for endings that are the client's own
    /// business (resets, I/O errors) or a shutdown.
    /// </summary>
    private (string? Reason, string Advice) Describe(string kestrelReason) => kestrelReason switch
    {
        "max_request_headers_total_size_exceeded" => (kestrelReason,
            $"request headers above {Settings.MaxRequestHeadersBytes.EnvironmentVariables[0]} ({_security.MaxRequestHeadersBytes.ToString(CultureInfo.InvariantCulture)} bytes), answered 431; raise it if the client is legitimate"),
        "max_request_header_count_exceeded" => (kestrelReason,
            $"more headers than {Settings.MaxRequestHeaderCount.EnvironmentVariables[0]} ({_security.MaxRequestHeaderCount.ToString(CultureInfo.InvariantCulture)}), answered 431; raise it if the client is legitimate"),
        "max_request_body_size_exceeded" => (kestrelReason,
            $"request body above {Settings.MaxRequestBodyBytes.EnvironmentVariables[0]}, answered 413; for Azure Monitor lower Prometheus' max_samples_per_send instead"),
        "request_headers_timeout" => (kestrelReason,
            $"headers not complete within {Settings.RequestHeadersTimeout.EnvironmentVariables[0]} ({_security.RequestHeadersTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s); a stalled or very slow client"),
        "min_request_body_data_rate" => (kestrelReason,
            $"request body slower than {Settings.MinRequestBodyDataRate.EnvironmentVariables[0]} ({_security.MinRequestBodyDataRate.ToString(CultureInfo.InvariantCulture)} B/s); a stalled or very slow client"),
        "max_concurrent_connections_exceeded" => (kestrelReason,
            $"more client connections than {Settings.MaxConcurrentConnections.EnvironmentVariables[0]}; add replicas or raise it"),
        "tls_not_supported" => (kestrelReason, "plain HTTP sent to the TLS port; the client must use https://"),
        "invalid_request_line" or "invalid_request_headers" or "invalid_http_version" or "unexpected_end_of_request_content" =>
            (kestrelReason, "malformed HTTP from the client, answered 400 (or 505) and closed; check what connects to this port"),
        // The client's own business, a shutdown, or (tls_handshake_failed) logged by ListenerTls already.
        "io_error" or "connection_reset" or "app_shutdown_timeout" or "aborted_by_app" or "tls_handshake_failed" => (null, ""),
        // An exception's type name: the connection broke rather than broke a rule.
        _ when kestrelReason.Contains('.', StringComparison.Ordinal) => (null, ""),
        // The rest of Kestrel's fixed list: mostly HTTP/2 protocol errors by the client.
        _ => (kestrelReason, "the client broke the HTTP protocol and the connection was closed"),
    };

    public void Dispose() => _listener.Dispose();
}
