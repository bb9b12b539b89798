using FastProxy.Configuration;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace FastProxy.Telemetry;

/// <summary>
/// OTLP gRPC export through the OpenTelemetry SDK when OTEL_GRPC_ENDPOINT is set: the
/// <see cref="ProxyMetrics.MeterName"/> meter every OTEL_METRIC_EXPORT_INTERVAL, and, when the
/// sample ratio is above 0, the <see cref="ProxyTracing.SourceName"/> spans. The resource carries
/// OTEL_SERVICE_NAME (aad-auth-proxy's default aad_auth_proxy). Disposing flushes both.
/// </summary>
internal sealed class OtlpExport : IDisposable
{
    private readonly MeterProvider _metrics;
    private readonly TracerProvider? _traces;

    private OtlpExport(MeterProvider metrics, TracerProvider? traces)
    {
        _metrics = metrics;
        _traces = traces;
    }

    public bool Tracing => _traces is not null;

    public static OtlpExport? Create(ProxyOptions options)
    {
        if (options.OtelGrpcEndpoint is not { } endpoint)
        {
            return null;
        }

        var telemetry = options.Telemetry;
        var resource = ResourceBuilder.CreateEmpty().AddService(options.OtelServiceName, serviceVersion: ProxyMetrics.BuildVersion);
        void Exporter(OtlpExporterOptions exporter)
        {
            exporter.Endpoint = new Uri(endpoint);
            exporter.Protocol = OtlpExportProtocol.Grpc;
        }

        var metrics = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(ProxyMetrics.MeterName)
            .AddOtlpExporter((exporter, reader) =>
            {
                Exporter(exporter);
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.MetricExportInterval.TotalMilliseconds;
                // Prometheus-style cumulative counters, as the scrape endpoint has them.
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
            })
            .Build();

        TracerProvider? traces = null;
        if (telemetry.TraceSampleRatio > 0)
        {
            traces = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(ProxyTracing.SourceName)
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(telemetry.TraceSampleRatio)))
                .AddOtlpExporter(Exporter)
                .Build();
        }

        return new OtlpExport(metrics, traces);
    }

    public void Dispose()
    {
        _traces?.Dispose();
        _metrics.Dispose();
    }
}
