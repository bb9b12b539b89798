using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Identity;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Benchmarks;

/// <summary>A credential that answers at once with a fixed one-hour token.</summary>
internal sealed class StaticCredential : TokenCredential
{
    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        new("bench-token-0123456789abcdef", DateTimeOffset.UtcNow.AddHours(1));

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}

/// <summary>The in-memory upstream: drains the request body and answers a canned response.</summary>
internal sealed class CannedUpstream : HttpMessageHandler
{
    private readonly byte[]? _responseBody;

    public CannedUpstream(byte[]? responseBody) => _responseBody = responseBody;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is { } content)
        {
            await content.CopyToAsync(Stream.Null, cancellationToken);
        }

        return _responseBody is null
            ? new HttpResponseMessage(HttpStatusCode.NoContent)
            : new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(_responseBody) };
    }
}

/// <summary>A response body that discards what is written, reusing one buffer (Kestrel's writer pools too).</summary>
internal sealed class DiscardingResponseBody : PipeWriter, IHttpResponseBodyFeature
{
    private readonly byte[] _buffer = new byte[64 * 1024];

    public Stream Stream => Stream.Null;
    public PipeWriter Writer => this;

    public void DisableBuffering() { }
    public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;
    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) => Task.CompletedTask;
    public Task CompleteAsync() => Task.CompletedTask;

    public override void Advance(int bytes) { }
    public override Memory<byte> GetMemory(int sizeHint = 0) => _buffer;
    public override Span<byte> GetSpan(int sizeHint = 0) => _buffer;
    public override void CancelPendingFlush() { }
    public override void Complete(Exception? exception = null) { }
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(default(FlushResult));
    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(default(FlushResult));
}

internal sealed class BodyDetection : IHttpRequestBodyDetectionFeature
{
    public static readonly BodyDetection HasBody = new(true);
    public static readonly BodyDetection NoBody = new(false);

    private BodyDetection(bool canHaveBody) => CanHaveBody = canHaveBody;

    public bool CanHaveBody { get; }
}

internal sealed class RequestBodyPipe(PipeReader reader) : IRequestBodyPipeFeature
{
    public PipeReader Reader { get; } = reader;
}

/// <summary>Builders shared by the benchmarks: one route, a held token, Prometheus-like requests.</summary>
internal static class Fixtures
{
    public static readonly string BodyDirectory = FindTestData();

    public static byte[] Body(string name) => File.ReadAllBytes(Path.Combine(BodyDirectory, name));

    /// <summary>The body as Kestrel hands it over: a sequence of 4 KB segments.</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] body, int segmentSize = 4096)
    {
        Segment? first = null, last = null;
        for (var offset = 0; offset < body.Length; offset += segmentSize)
        {
            var chunk = body.AsMemory(offset, Math.Min(segmentSize, body.Length - offset));
            var segment = new Segment(chunk, last?.RunningIndex + last?.Memory.Length ?? 0);
            if (last is null)
            {
                first = segment;
            }
            else
            {
                last.SetNext(segment);
            }

            last = segment;
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    public static ProxyOptions Options(string targetHost = "http://127.0.0.1:9090")
    {
        var target = TargetAddress.ParseTargetHost(targetHost, out var error) ?? throw new InvalidOperationException(error);
        return new ProxyOptions
        {
            Routes = [new RouteDefinition("default", null, target, "https://monitor.azure.com/.default")],
            Identity = new IdentityOptions(IdentityType.SystemAssigned, null),
        };
    }

    public static async Task<ProxyRoute> RouteWithTokenAsync(ProxyOptions options)
    {
        var tokens = new TokenSource("default", options.Routes[0].Scope, new StaticCredential(), 10, TimeProvider.System, NullLogger.Instance);
        await tokens.RefreshOnceAsync(CancellationToken.None);
        return new ProxyRoute(options.Routes[0], tokens);
    }

    /// <summary>A request as Prometheus 2.x sends it.</summary>
    public static DefaultHttpContext RemoteWriteContext(ReadOnlySequence<byte> body, DiscardingResponseBody response)
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = HttpMethods.Post;
        request.Scheme = "http";
        request.Path = "/api/v1/write";
        request.Host = new HostString("127.0.0.1:8081");
        request.ContentLength = body.Length;
        var headers = request.Headers;
        headers.ContentType = "application/x-protobuf";
        headers.ContentEncoding = "snappy";
        headers.UserAgent = "Prometheus/2.42.0";
        headers["X-Prometheus-Remote-Write-Version"] = "0.1.0";
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Features.Set<IHttpRequestBodyDetectionFeature>(body.IsEmpty ? BodyDetection.NoBody : BodyDetection.HasBody);
        context.Features.Set<IRequestBodyPipeFeature>(new RequestBodyPipe(PipeReader.Create(body)));
        context.Features.Set<IHttpResponseBodyFeature>(response);
        return context;
    }

    private static string FindTestData()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "testdata", "remote-write", "prometheus-2.42");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        var fromCwd = Path.Combine(Directory.GetCurrentDirectory(), "testdata", "remote-write", "prometheus-2.42");
        return Directory.Exists(fromCwd) ? fromCwd : throw new DirectoryNotFoundException("testdata/remote-write/prometheus-2.42 not found above " + AppContext.BaseDirectory);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
