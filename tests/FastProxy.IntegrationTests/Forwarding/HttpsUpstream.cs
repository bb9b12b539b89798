using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// A TLS target behind FastProxy: real Kestrel on 127.0.0.1 serving <c>https</c> with a given
/// server certificate and protocol set (ALPN offers h2 + http/1.1 for Http1AndHttp2, only
/// http/1.1 for Http1). Records every request (protocol, headers, body) and answers 200 to requests carrying a token <see cref="TokenValidator"/> approves.
/// </summary>
internal sealed class HttpsUpstream : IAsyncDisposable
{
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ChangeSignal _changed = new();
    private LoopbackHost _host = null!;

    private HttpsUpstream()
    {
    }

    public Uri Address => _host.Address;

    /// <summary>https://127.0.0.1:port (no trailing slash).</summary>
    public string BaseUrl => _host.BaseUrl;

    public int Port => _host.Port;

    public Func<string, bool> TokenValidator { get; set; } = _ => false;

    /// <summary>When the target answers; the whole body by default.</summary>
    public UpstreamAnswer Answer { get; set; } = UpstreamAnswer.AfterWholeBody;

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public static async Task<HttpsUpstream> StartAsync(X509Certificate2 certificate, HttpProtocols protocols)
    {
        var upstream = new HttpsUpstream();
        upstream._host = await LoopbackHost.StartAsync(upstream.HandleAsync, protocols, certificate: certificate);
        return upstream;
    }

    public Task WaitForRequestsAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => _requests.Count >= count, timeout, $"{count} request(s) at the https upstream (got {_requests.Count})");

    private async Task HandleAsync(HttpContext context)
    {
        var recorded = new RecordedRequest
        {
            Method = context.Request.Method,
            RawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget,
            Protocol = context.Request.Protocol,
            Headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase),
        };
        if (Answer == UpstreamAnswer.BeforeBody)
        {
            // As a target refusing a request outright (413, 429, a bad token): no byte of the body read.
            recorded.Body = [];
            _requests.Enqueue(recorded);
            _changed.Notify();
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }

        recorded.Body = Answer == UpstreamAnswer.AtDeclaredLength
            ? await ReadDeclaredLengthAsync(context)
            : await FakeUpstream.ReadBodyAsync(context);
        _requests.Enqueue(recorded);
        _changed.Notify();

        var authorization = context.Request.Headers.Authorization.ToString();
        var authorised = context.Request.Headers.Authorization.Count == 1 &&
            authorization.StartsWith("Bearer ", StringComparison.Ordinal) &&
            TokenValidator(authorization["Bearer ".Length..]);
        context.Response.StatusCode = authorised ? StatusCodes.Status200OK : StatusCodes.Status401Unauthorized;
    }

    /// <summary>
    /// Reads Content-Length bytes and stops, without waiting for the client's end of stream: over
    /// HTTP/2 the answer can then overtake the last step of the client's body copy.
    /// </summary>
    private static async Task<byte[]> ReadDeclaredLengthAsync(HttpContext context)
    {
        var declared = context.Request.ContentLength ?? throw new InvalidOperationException("the test sends a Content-Length");
        var body = new ArrayBufferWriter<byte>();
        var reader = context.Request.BodyReader;
        while (body.WrittenCount < declared)
        {
            var read = await reader.ReadAsync(context.RequestAborted);
            foreach (var segment in read.Buffer)
            {
                body.Write(segment.Span);
            }

            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }

        return body.WrittenSpan.ToArray();
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}

internal enum UpstreamAnswer
{
    /// <summary>After the whole body, its end included.</summary>
    AfterWholeBody,

    /// <summary>As soon as Content-Length bytes have arrived (HAProxy in front of a server that counts).</summary>
    AtDeclaredLength,

    /// <summary>413 before reading any of the body.</summary>
    BeforeBody,
}
