using System.Diagnostics;
using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>Traces and metrics pushed over OTLP/gRPC to a collector in the test process.</summary>
public sealed class OtlpExportTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>
    /// Posts one 100-byte write per entry of <paramref name="traceparents"/> (null: no header)
    /// through a proxy exporting to an in-process collector, then disposes the proxy, which
    /// flushes the batched spans and a last metrics export.
    /// </summary>
    private static async Task<(FakeUpstream Upstream, OtlpReceiver Receiver)> SendTracedAsync(string?[] traceparents, params (string, string)[] settings)
    {
        var credential = new StaticTokenCredential("otlp-token");
        var upstream = await FakeUpstream.StartAsync(credential.Token);
        upstream.Status = 204;
        var receiver = await OtlpReceiver.StartAsync();
        var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential, [("OTEL_GRPC_ENDPOINT", receiver.Endpoint), .. settings]);
        try
        {
            using var client = TestHttp.CreateClient(proxy.Address);
            foreach (var traceparent in traceparents)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/write", UriKind.Relative)) { Content = new ByteArrayContent(new byte[100]) };
                if (traceparent is not null)
                {
                    request.Headers.TryAddWithoutValidation("traceparent", traceparent);
                }

                using var response = await client.SendAsync(request, Cancel);
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }
        }
        catch
        {
            await proxy.DisposeAsync();
            await upstream.DisposeAsync();
            await receiver.DisposeAsync();
            throw;
        }

        await proxy.DisposeAsync();
        return (upstream, receiver);
    }

    /// <summary>The target's traceparent continues the client's trace under a span id of FastProxy's; returns that id.</summary>
    private static string AssertTargetGotOwnHop(RecordedRequest request, string clientTrace, string clientSpan, string flags)
    {
        var sent = request.Header("traceparent")!.Split('-');
        Assert.Equal(clientTrace, sent[1]);
        Assert.NotEqual(clientSpan, sent[2]);
        Assert.Equal(flags, sent[3]);
        return sent[2];
    }

    [Fact]
    public async Task Traffic_ExportsSpansContinuingTraceparent_AndMetricsWithServiceName()
    {
        var clientTrace = ActivityTraceId.CreateRandom().ToHexString();
        var clientSpan = ActivitySpanId.CreateRandom().ToHexString();
        var (upstream, receiver) = await SendTracedAsync([$"00-{clientTrace}-{clientSpan}-01", null],
            ("OTEL_SERVICE_NAME", "fastproxy-test"), ("OTEL_METRIC_EXPORT_INTERVAL", "500"));
        await using var disposeUpstream = upstream;
        await using var disposeReceiver = receiver;

        // The target got a traceparent in the client's trace, naming FastProxy's upstream span.
        var sentSpan = AssertTargetGotOwnHop(upstream.Requests[0], clientTrace, clientSpan, "01");

        var spans = receiver.Spans();
        var server = Assert.Single(spans, s => s.TraceId == clientTrace && s.Kind == 2);
        Assert.Equal(clientSpan, server.ParentSpanId);
        Assert.Equal("POST default", server.Name);
        var upstreamSpan = Assert.Single(spans, s => s.TraceId == clientTrace && s.Kind == 3);
        Assert.Equal(server.SpanId, upstreamSpan.ParentSpanId);
        Assert.Equal(sentSpan, upstreamSpan.SpanId);

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
        var clientTrace = ActivityTraceId.CreateRandom().ToHexString();
        var clientSpan = ActivitySpanId.CreateRandom().ToHexString();
        var (upstream, receiver) = await SendTracedAsync([$"00-{clientTrace}-{clientSpan}-00"]);
        await using var disposeUpstream = upstream;
        await using var disposeReceiver = receiver;

        // W3C: a participant forwards its own span id even when it records nothing, so the target's
        // spans (if it samples differently) hang off FastProxy's hop, not the client's.
        AssertTargetGotOwnHop(upstream.Requests[0], clientTrace, clientSpan, "00");
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
