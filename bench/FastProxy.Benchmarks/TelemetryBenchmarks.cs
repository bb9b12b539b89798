using System.Buffers;
using BenchmarkDotNet.Attributes;
using FastProxy.Forwarding;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Benchmarks;

/// <summary>
/// What the instruments cost per request. <c>Record*</c>: the six metric calls one proxied request
/// makes (in-flight up and down, upstream duration, request and response bytes, count and
/// duration), with nobody listening and with the /metrics aggregator listening. <c>Forward12K_Scraped</c>
/// is <see cref="ForwardingBenchmarks.Forward12K"/> with the aggregator listening and the minute
/// summary on, as in production: compare the two for the whole telemetry cost on the hot path.
/// </summary>
public class TelemetryBenchmarks
{
    private ProxyMetrics _quiet = null!;
    private ProxyMetrics _scraped = null!;
    private PrometheusScrape _scrape = null!;
    private ProxyRoute _route = null!;
    private HttpForwarder _forwarder = null!;
    private ReadOnlySequence<byte> _body12K;
    private readonly DiscardingResponseBody _response = new();

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _quiet = new ProxyMetrics();
        _scraped = new ProxyMetrics();
        _scrape = new PrometheusScrape(_scraped.Meter);

        var options = Fixtures.Options();
        _route = await Fixtures.RouteWithTokenAsync(options);
        var summary = new TrafficSummary(NullLogger.Instance, TimeProvider.System, TimeSpan.FromMinutes(1));
        var telemetry = new ForwardingTelemetry(_scraped, summary, NullLogger.Instance, TimeProvider.System, tracing: false);
        var errors = new ErrorResponder(NullLogger.Instance, TimeProvider.System, telemetry);
        _forwarder = new HttpForwarder(new HttpMessageInvoker(new CannedUpstream(null)), errors, options, TimeProvider.System, telemetry);
        _body12K = Fixtures.Segmented(Fixtures.Body("batch-12826.snappy"));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _scrape.Dispose();
        _scraped.Dispose();
        _quiet.Dispose();
    }

    private static void RecordOneRequest(ProxyMetrics metrics)
    {
        metrics.RequestStarted("default");
        metrics.RequestBytes("default", 12_826);
        metrics.UpstreamResponded("default", TimeSpan.FromMilliseconds(3), 204);
        metrics.ResponseBytes("default", 0);
        metrics.RequestCompleted("default", "POST", "2xx", TimeSpan.FromMilliseconds(4));
    }

    [Benchmark]
    public void RecordRequest_NoListener() => RecordOneRequest(_quiet);

    [Benchmark]
    public void RecordRequest_Scraped() => RecordOneRequest(_scraped);

    [Benchmark]
    public Task Forward12K_Scraped() => _forwarder.ForwardAsync(Fixtures.RemoteWriteContext(_body12K, _response), _route, "/api/v1/write");
}
