using System.Diagnostics.Metrics;
using System.IO.Pipelines;
using System.Net;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Listener;
using FastProxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Listener;

public sealed class AzureBodySizeWatchTests
{
    private static ProxyRoute Route(string targetHost) =>
        new(new RouteDefinition("ingest", null, TargetAddress.ParseTargetHost(targetHost, out _)!, Audience.IngestionScope),
            new TokenSource("s", Audience.IngestionScope, new ScriptedCredential(), 10, TimeProvider.System, NullLogger.Instance));

    [Fact]
    public void OverOneMegabyteToAzureMonitor_IsCountedAndLoggedOncePerInterval_NamingTheFix()
    {
        using var meter = new Meter("test-" + Guid.NewGuid());
        long counted = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => counted += value);
        listener.Start();
        var logger = new CapturingLogger();
        var time = new FakeTimeProvider();
        var watch = new AzureBodySizeWatch(meter, logger, time);
        var azure = Route("myws-abcd.eastus-1.metrics.ingest.monitor.azure.com");

        watch.Observe(azure, 1_000_000);
        watch.Observe(azure, 1_000_001);
        watch.Observe(azure, 2_000_000);
        watch.Observe(Route("http://in-cluster:9090"), 5_000_000);

        Assert.Equal(2, counted);
        var line = Assert.Single(logger.Entries);
        Assert.Equal(602, line.EventId.Id);
        Assert.Contains("max_samples_per_send", line.Message, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromMinutes(2));
        watch.Observe(azure, 3_000_000);
        Assert.Equal(2, logger.Entries.Count);
        Assert.Contains("1 similar", logger.Entries.Last().Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1_200_000, 1)]
    [InlineData(900_000, 0)]
    public async Task ChunkedBodyToAzureMonitor_IsFlaggedOnceItsStreamedCountPassesTheLimit(int bodyBytes, int expectedFlags)
    {
        using var meter = new Meter("test-" + Guid.NewGuid());
        long counted = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref counted, value));
        listener.Start();
        var logger = new CapturingLogger();
        var watch = new AzureBodySizeWatch(meter, logger, TimeProvider.System);
        var definition = new RouteDefinition("ingest", null,
            TargetAddress.ParseTargetHost("myws-abcd.eastus-1.metrics.ingest.monitor.azure.com", out _)!, Audience.IngestionScope);
        var route = await RouteWithTokenAsync(definition);
        var upstream = new DrainingUpstream();
        var options = new ProxyOptions { Routes = [definition], Identity = new IdentityOptions(IdentityType.SystemAssigned, null) };
        var forwarder = new HttpForwarder(new HttpMessageInvoker(upstream), new ErrorResponder(NullLogger.Instance, TimeProvider.System),
            options, TimeProvider.System, bodySizeWatch: watch);

        // No Content-Length: the body arrives chunked, in 16 KB writes, while the forward runs.
        var body = new Pipe();
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Post;
        context.Request.Headers.ContentType = "application/x-protobuf";
        context.Features.Set<IHttpRequestBodyDetectionFeature>(new HasBody());
        context.Features.Set<IRequestBodyPipeFeature>(new RequestBodyPipe(body.Reader));
        var forwarding = forwarder.ForwardAsync(context, route, "/api/v1/write");
        var chunk = new byte[16 * 1024];
        for (var sent = 0; sent < bodyBytes; sent += chunk.Length)
        {
            await body.Writer.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, bodyBytes - sent)));
        }

        await body.Writer.CompleteAsync();
        await forwarding.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StatusCodes.Status204NoContent, context.Response.StatusCode);
        Assert.Equal(bodyBytes, upstream.BodyBytes);
        Assert.Equal(expectedFlags, Interlocked.Read(ref counted));
        Assert.Equal(expectedFlags, logger.Entries.Count(e => e.EventId.Id == 602));
    }

    private static async Task<ProxyRoute> RouteWithTokenAsync(RouteDefinition definition)
    {
        var credential = new ScriptedCredential().ThenAlways(() => new AccessToken("t", DateTimeOffset.UtcNow.AddHours(1)));
        var tokens = new TokenSource("s", Audience.IngestionScope, credential, 10, TimeProvider.System, NullLogger.Instance);
        await tokens.RefreshOnceAsync(CancellationToken.None);
        return new ProxyRoute(definition, tokens);
    }

    private sealed class DrainingUpstream : HttpMessageHandler
    {
        public long BodyBytes { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var counter = new CountingStream();
            await request.Content!.CopyToAsync(counter, cancellationToken);
            BodyBytes = counter.Length;
            return new HttpResponseMessage(HttpStatusCode.NoContent);
        }
    }

    private sealed class CountingStream : Stream
    {
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _length += count;
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _length += buffer.Length;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class HasBody : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => true;
    }

    private sealed class RequestBodyPipe(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader { get; } = reader;
    }
}
