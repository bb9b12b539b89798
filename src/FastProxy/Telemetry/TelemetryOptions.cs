using System.Globalization;
using FastProxy.Configuration;

namespace FastProxy.Telemetry;

/// <summary>Where metrics are served and what is exported; read from <see cref="Settings"/>' telemetry block.</summary>
internal sealed record TelemetryOptions
{
    /// <summary>False: no /metrics anywhere (OTLP export, when configured, still runs).</summary>
    public bool MetricsEnabled { get; init; } = true;

    /// <summary>
    /// Null: /metrics is answered on LISTENING_PORT (and shadows a proxied /metrics). A port: /metrics,
    /// /health and /ready are answered there, and /metrics on the listening port is proxied.
    /// </summary>
    public int? MetricsPort { get; init; }

    /// <summary>Share of new traces recorded (0 to 1); 0 turns tracing off. Parent decisions are honoured.</summary>
    public double TraceSampleRatio { get; init; } = 1.0;

    /// <summary>How often metrics are pushed over OTLP.</summary>
    public TimeSpan MetricExportInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Period of the Information traffic summary; zero turns it off.</summary>
    public TimeSpan SummaryInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Reads the telemetry settings through the loader's own read and error functions, so the
    /// loader needs one line for all of them.
    /// </summary>
    public static TelemetryOptions Read(Func<Setting, string?> read, Action<Setting, string> error)
    {
        var options = new TelemetryOptions();
        if (read(Settings.MetricsEnabled) is { } enabled)
        {
            if (!SettingValues.TryParseBool(enabled, out var metricsEnabled))
            {
                error(Settings.MetricsEnabled, $"'{enabled}' is not true or false");
            }
            else if (!metricsEnabled)
            {
                options = options with { MetricsEnabled = false };
            }
        }

        if (read(Settings.MetricsPort) is { } port)
        {
            if (int.TryParse(port, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= 65535)
            {
                options = options with { MetricsPort = value };
            }
            else
            {
                error(Settings.MetricsPort, $"'{port}' is not a whole number from 1 to 65535");
            }
        }

        if (read(Settings.TraceSampleRatio) is { } ratio)
        {
            if (double.TryParse(ratio, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 1)
            {
                options = options with { TraceSampleRatio = value };
            }
            else
            {
                error(Settings.TraceSampleRatio, $"'{ratio}' is not a ratio from 0 to 1 (e.g. 0.1 records one new trace in ten)");
            }
        }

        if (read(Settings.MetricExportInterval) is { } interval)
        {
            if (int.TryParse(interval, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) && ms is >= 100 and <= 3_600_000)
            {
                options = options with { MetricExportInterval = TimeSpan.FromMilliseconds(ms) };
            }
            else
            {
                error(Settings.MetricExportInterval, $"'{interval}' is not a number of milliseconds from 100 to 3600000");
            }
        }

        if (read(Settings.LogSummaryInterval) is { } summary)
        {
            if (int.TryParse(summary, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and <= 86_400)
            {
                options = options with { SummaryInterval = TimeSpan.FromSeconds(seconds) };
            }
            else
            {
                error(Settings.LogSummaryInterval, $"'{summary}' is not a number of seconds from 0 (off) to 86400");
            }
        }

        return options;
    }

    /// <summary>One line for the start-up log.</summary>
    public string Describe(ProxyOptions proxy)
    {
        var metrics = !MetricsEnabled ? "/metrics off"
            : MetricsPort is { } port ? $"/metrics on port {port} (with /health and /ready)"
            : $"/metrics on port {proxy.ListeningPort}";
        var otlp = proxy.OtelGrpcEndpoint is null
            ? "OTLP export off"
            : $"OTLP to {proxy.OtelGrpcEndpoint} as {proxy.OtelServiceName}: metrics every {MetricExportInterval.TotalSeconds}s, " +
              (TraceSampleRatio > 0 ? $"traces sampled at {TraceSampleRatio}" : "traces off");
        var summary = SummaryInterval > TimeSpan.Zero ? $"traffic summary every {SummaryInterval.TotalSeconds}s" : "traffic summary off";
        return $"telemetry: {metrics}; {otlp}; {summary}";
    }
}
