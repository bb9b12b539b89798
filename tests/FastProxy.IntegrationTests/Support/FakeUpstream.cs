using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastProxy.IntegrationTests.Support;

/// <summary>What the fake upstream saw of one request, byte for byte where it matters.</summary>
internal sealed class RecordedRequest
{
    public required string Method { get; init; }

    /// <summary>The request target exactly as it came off the wire (IHttpRequestFeature.RawTarget).</summary>
    public required string RawTarget { get; init; }

    public required string Protocol { get; init; }

    /// <summary>Every header as received, names as Kestrel reports them.</summary>
    public required IReadOnlyDictionary<string, string[]> Headers { get; init; }

    /// <summary>The body (null when the behaviour did not keep it).</summary>
    public byte[]? Body { get; set; }

    public string? Header(string name) =>
        Headers.TryGetValue(name, out var values) ? string.Join(", ", values) : null;

    public bool HasHeader(string name) => Headers.ContainsKey(name);
}

/// <summary>
/// A target behind FastProxy: real Kestrel on loopback that checks the bearer token, records each
/// request (method, raw target, headers, body) and answers as told: a status and body by default,
/// or whatever <see cref="Behavior"/> does (slow, cut off, streaming, …).
/// </summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, bool> _acceptedTokens = new(StringComparer.Ordinal);
    private readonly ChangeSignal _changed = new();
    private LoopbackHost _host = null!;
    private int _unauthorized;

    private FakeUpstream()
    {
    }

    public static async Task<FakeUpstream> StartAsync(params string[] acceptedTokens) =>
        await StartAsync(HttpProtocols.Http1, acceptedTokens);

    public static async Task<FakeUpstream> StartAsync(HttpProtocols protocols, params string[] acceptedTokens) =>
        await StartOnPortAsync(0, protocols, acceptedTokens);

    /// <summary>Starts on <paramref name="port"/> (0: any free one), e.g. where FastProxy already points.</summary>
    public static async Task<FakeUpstream> StartOnPortAsync(int port, HttpProtocols protocols = HttpProtocols.Http1, params string[] acceptedTokens)
    {
        var upstream = new FakeUpstream { _protocols = protocols };
        foreach (var token in acceptedTokens)
        {
            upstream.AcceptToken(token);
        }

        upstream._host = await LoopbackHost.StartAsync(upstream.HandleAsync, protocols, port);
        return upstream;
    }

    private HttpProtocols _protocols;

    public string BaseUrl => _host.BaseUrl;

    public int Port => _host.Port;

    /// <summary>Connections from FastProxy open right now (carried across <see cref="RestartAsync"/>).</summary>
    public int OpenConnections => _host.OpenConnections;

    /// <summary>Connections accepted since the first start.</summary>
    public int AcceptedConnections => _host.AcceptedConnections;

    /// <summary>The most connections that were open at once.</summary>
    public int PeakConnections => _host.PeakConnections;

    public Task WaitForOpenConnectionsAsync(Func<int, bool> condition, TimeSpan timeout, string what) =>
        _host.ConnectionsChanged.WaitUntilAsync(() => condition(OpenConnections), timeout, $"{what} (open connections: {OpenConnections})");

    /// <summary>Stops like a crashed process: listener closed, every connection aborted mid-request.</summary>
    public Task KillAsync() => _host.KillAsync();

    /// <summary>Starts again on the same port, as a restarted process would, keeping the counts and recordings.</summary>
    public async Task RestartAsync() =>
        _host = await LoopbackHost.StartAsync(HandleAsync, _protocols, Port, _host.Connections);

    /// <summary>When false, any Authorization is let through (still recorded).</summary>
    public bool RequireToken { get; set; } = true;

    public int Status { get; set; } = StatusCodes.Status200OK;

    public byte[] ResponseBody { get; set; } = [];

    public Dictionary<string, string> ResponseHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Takes over after the request was recorded and authorised: reads the body (or not) and answers.</summary>
    public Func<HttpContext, RecordedRequest, Task>? Behavior { get; set; }

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Requests refused with 401 because they did not carry an accepted token.</summary>
    public int Unauthorized => Volatile.Read(ref _unauthorized);

    /// <summary>Every distinct Authorization value that was accepted.</summary>
    public IReadOnlyCollection<string> TokensSeen => [.. _tokensSeen.Keys];

    private readonly ConcurrentDictionary<string, bool> _tokensSeen = new(StringComparer.Ordinal);

    public void AcceptToken(string token) => _acceptedTokens[token] = true;

    /// <summary>Also accepts tokens this predicate approves (e.g. every token a fake identity endpoint issued).</summary>
    public Func<string, bool>? TokenValidator { get; set; }

    public Task WaitForRequestsAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => _requests.Count >= count, timeout, $"{count} request(s) at the fake upstream (got {_requests.Count})");

    /// <summary>Reads a request body to the end, keeping it.</summary>
    public static async Task<byte[]> ReadBodyAsync(HttpContext context)
    {
        var body = new ArrayBufferWriter<byte>();
        var reader = context.Request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(context.RequestAborted);
            foreach (var segment in read.Buffer)
            {
                body.Write(segment.Span);
            }

            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                return body.WrittenSpan.ToArray();
            }
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var recorded = new RecordedRequest
        {
            Method = context.Request.Method,
            RawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget,
            Protocol = context.Request.Protocol,
            Headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase),
        };

        var authorization = context.Request.Headers.Authorization.ToString();
        var authorised = !RequireToken ||
            (context.Request.Headers.Authorization.Count == 1 &&
             authorization.StartsWith("Bearer ", StringComparison.Ordinal) &&
             (_acceptedTokens.ContainsKey(authorization["Bearer ".Length..]) || TokenValidator?.Invoke(authorization["Bearer ".Length..]) == true));
        if (!authorised)
        {
            Interlocked.Increment(ref _unauthorized);
            _requests.Enqueue(recorded);
            _changed.Notify();
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        _tokensSeen[authorization] = true;
        try
        {
            if (Behavior is { } behavior)
            {
                _requests.Enqueue(recorded);
                _changed.Notify();
                await behavior(context, recorded);
                return;
            }

            recorded.Body = await ReadBodyAsync(context);
            _requests.Enqueue(recorded);
            _changed.Notify();
            context.Response.StatusCode = Status;
            foreach (var (name, value) in ResponseHeaders)
            {
                context.Response.Headers[name] = value;
            }

            if (ResponseBody.Length > 0)
            {
                context.Response.ContentLength = ResponseBody.Length;
                await context.Response.Body.WriteAsync(ResponseBody, context.RequestAborted);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // FastProxy cancelled the request; the test looks at that through its own behaviour.
        }
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
