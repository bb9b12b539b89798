using System.Diagnostics;
using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>Traces and metrics pushed over OTLP/gRPC to a collector in the test process.</summary>
public sealed class OtlpExportTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Traffic_ExportsSpansContinuingTraceparent_AndMetricsWithServiceName()
    {
        var credential = new StaticTokenCredential("otlp-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        upstream.Status = 204;
        await using var receiver = await OtlpReceiver.StartAsync();
        var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential,
            ("OTEL_GRPC_ENDPOINT", receiver.Endpoint), ("OTEL_SERVICE_NAME", "fastproxy-test"), ("OTEL_METRIC_EXPORT_INTERVAL", "500"));
        var clientTrace = ActivityTraceId.CreateRandom().ToHexString();
        var clientSpan = ActivitySpanId.CreateRandom().ToHexString();
        try
        {
            using var client = TestHttp.CreateClient(proxy.Address);
            using var traced = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/write", UriKind.Relative)) { Content = new ByteArrayContent(new byte[100]) };
            traced.Headers.TryAddWithoutValidation("traceparent", $"00-{clientTrace}-{clientSpan}-01");
            using (var response = await client.SendAsync(traced, Cancel))
            {
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }

            using (var untraced = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[100]), Cancel))
            {
                Assert.Equal(HttpStatusCode.NoContent, untraced.StatusCode);
            }
        }
        finally
        {
            // Disposing flushes the batched spans and a last metrics export.
            await proxy.DisposeAsync();
        }

        // The target got a traceparent in the client's trace, naming FastProxy's upstream span.
        var sent = upstream.Requests[0].Header("traceparent")!.Split('-');
        Assert.Equal(clientTrace, sent[1]);
        Assert.NotEqual(clientSpan, sent[2]);
        Assert.Equal("01", sent[3]);

        var spans = receiver.Spans();
        var server = Assert.Single(spans, s => s.TraceId == clientTrace && s.Kind == 2);
        Assert.Equal(clientSpan, server.ParentSpanId);
        Assert.Equal("POST default", server.Name);
        var upstreamSpan = Assert.Single(spans, s => s.TraceId == clientTrace && s.Kind == 3);
        Assert.Equal(server.SpanId, upstreamSpan.ParentSpanId);
        Assert.Equal(sent[2], upstreamSpan.SpanId);

        // The request without a traceparent starts a new trace, and its upstream request carries it.
        var rootServer = Assert.Single(spans, s => s.TraceId != clientTrace && s.Kind == 2);
        Assert.Equal("", rootServer.ParentSpanId);
        Assert.Equal(rootServer.TraceId, upstream.Requests[1].Header("traceparent")!.Split('-')[1]);

        var (names, services) = receiver.Metrics();
        Assert.Contains("fastproxy-test", services);
        Assert.Contains("fastproxy_requests_total", names);
        Assert.Contains("fastproxy_request_duration_seconds", names);
        Assert.Contains("fastproxy_token_expiry_seconds", names);
    }

    [Fact]
    public async Task UnsampledTraceparent_TargetGetsFastProxysOwnSpan_AndNothingIsExported()
    {
        var credential = new StaticTokenCredential("otlp-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        upstream.Status = 204;
        await using var receiver = await OtlpReceiver.StartAsync();
        var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential, ("OTEL_GRPC_ENDPOINT", receiver.Endpoint));
        var clientTrace = ActivityTraceId.CreateRandom().ToHexString();
        var clientSpan = ActivitySpanId.CreateRandom().ToHexString();
        try
        {
            using var client = TestHttp.CreateClient(proxy.Address);
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/write", UriKind.Relative)) { Content = new ByteArrayContent(new byte[100]) };
            request.Headers.TryAddWithoutValidation("traceparent", $"00-{clientTrace}-{clientSpan}-00");
            using var response = await client.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }
        finally
        {
            await proxy.DisposeAsync();
        }

        // W3C: a participant forwards its own span id even when it records nothing, so the target's
        // spans (if it samples differently) hang off FastProxy's hop, not the client's.
        var sent = upstream.Requests[0].Header("traceparent")!.Split('-');
        Assert.Equal(clientTrace, sent[1]);
        Assert.NotEqual(clientSpan, sent[2]);
        Assert.Equal("00", sent[3]);
        Assert.DoesNotContain(receiver.Spans(), s => s.TraceId == clientTrace);
    }

    [Fact]
    public async Task TracingOff_TraceparentPassesThroughUntouched()
    {
        var credential = new StaticTokenCredential("plain-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        await using var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential);
        using var client = TestHttp.CreateClient(proxy.Address);
        var traceparent = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/query", UriKind.Relative));
        request.Headers.TryAddWithoutValidation("traceparent", traceparent);

        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(traceparent, upstream.Requests[0].Header("traceparent"));
    }
}
