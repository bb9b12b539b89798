using System.Collections.Concurrent;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.EndToEndTests;

/// <summary>
/// The remote-write target behind FastProxy for the accounting test: accepts a write only with a
/// bearer token the identity endpoint issued and that has not expired when the request arrives
/// (anything else is 401, which Prometheus treats as final, so a token bug shows up as lost
/// samples), decodes every accepted body and keeps each (series, timestamp) it carried.
/// Killed and restarted through <see cref="Host"/>.
/// </summary>
internal sealed class AccountingReceiver : IAsyncDisposable
{
    public const string WritePath = "/api/v1/write";

    private readonly FlappingImds _identity;
    private readonly HashSet<(string Series, long TimestampMs)> _samples = [];
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly ConcurrentQueue<string> _refusals = new();
    private readonly ConcurrentDictionary<string, bool> _tokensSeen = new(StringComparer.Ordinal);
    private readonly ChangeSignal _changed = new();
    private RestartableHost _host = null!;
    private long _acceptedWrites;
    private long _http2Writes;
    private long _decodedSamples;
    private TaskCompletionSource? _holdNext;

    private AccountingReceiver(FlappingImds identity) => _identity = identity;

    /// <param name="certificate">Serve HTTPS (HTTP/2 by ALPN), as Azure Monitor does.</param>
    public static async Task<AccountingReceiver> StartAsync(FlappingImds identity, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var receiver = new AccountingReceiver(identity);
        receiver._host = await RestartableHost.StartAsync(receiver.HandleAsync, certificate);
        return receiver;
    }

    public RestartableHost Host => _host;

    public string BaseUrl => _host.BaseUrl;

    /// <summary>Requests refused for their token, with the reason.</summary>
    public IReadOnlyCollection<string> Refusals => [.. _refusals];

    /// <summary>Anything else wrong with what arrived (path, headers, undecodable body).</summary>
    public IReadOnlyCollection<string> Problems => [.. _problems];

    public int DistinctTokensSeen => _tokensSeen.Count;

    public long AcceptedWrites => Interlocked.Read(ref _acceptedWrites);

    /// <summary>Writes that arrived over HTTP/2.</summary>
    public long Http2Writes => Interlocked.Read(ref _http2Writes);

    /// <summary>Samples decoded from accepted writes, duplicates (retries) included.</summary>
    public long DecodedSamples => Interlocked.Read(ref _decodedSamples);

    public int DistinctSamples
    {
        get
        {
            lock (_samples)
            {
                return _samples.Count;
            }
        }
    }

    /// <summary>Those of <paramref name="expected"/> that have not arrived.</summary>
    public List<(string Series, long TimestampMs)> Missing(IEnumerable<(string Series, long TimestampMs)> expected)
    {
        lock (_samples)
        {
            return [.. expected.Where(sample => !_samples.Contains(sample))];
        }
    }

    /// <summary>Waits, re-checking on every accepted write, until nothing of <paramref name="expected"/> is missing.</summary>
    public async Task<List<(string Series, long TimestampMs)>> WaitForAllAsync(IReadOnlyCollection<(string Series, long TimestampMs)> expected, TimeSpan timeout)
    {
        try
        {
            await _changed.WaitUntilAsync(() => Missing(expected).Count == 0, timeout, "every sample in the receiver");
        }
        catch (TimeoutException)
        {
            // The caller reports what is missing.
        }

        return Missing(expected);
    }

    /// <summary>
    /// Makes the next authorised write stall before its body is read, never answered until the
    /// connection dies; the task completes once such a write is being held. Killing the host then
    /// cuts a request off mid-way, deterministically.
    /// </summary>
    public Task HoldNextWriteAsync()
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _holdNext, held);
        return held.Task;
    }

    public Task WaitForTokensAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => DistinctTokensSeen >= count, timeout, $"{count} distinct token(s) at the receiver (saw {DistinctTokensSeen})");

    public Task WaitForWritesAsync(long count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => AcceptedWrites >= count, timeout, $"{count} accepted write(s) at the receiver (got {AcceptedWrites})");

    private async Task HandleAsync(HttpContext context)
    {
        var arrived = DateTimeOffset.UtcNow;
        var authorization = context.Request.Headers.Authorization;
        var value = authorization.ToString();
        var refusal = authorization.Count != 1 || !value.StartsWith("Bearer ", StringComparison.Ordinal)
            ? "no single bearer token"
            : _identity.Invalidity(value["Bearer ".Length..], arrived);
        if (refusal is not null)
        {
            _refusals.Enqueue($"{arrived:HH:mm:ss.fff} {refusal}");
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        _tokensSeen[value] = true;
        if (HttpProtocol.IsHttp2(context.Request.Protocol))
        {
            Interlocked.Increment(ref _http2Writes);
        }
        if (context.Request.Method != HttpMethods.Post || context.Request.Path != WritePath)
        {
            _problems.Enqueue($"{context.Request.Method} {context.Request.Path}, expected POST {WritePath}");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (context.Request.Headers.ContentEncoding != "snappy" || context.Request.Headers["X-Prometheus-Remote-Write-Version"] != "0.1.0")
        {
            _problems.Enqueue($"headers lost: Content-Encoding={context.Request.Headers.ContentEncoding}, version={context.Request.Headers["X-Prometheus-Remote-Write-Version"]}");
        }

        if (Interlocked.Exchange(ref _holdNext, null) is { } held)
        {
            held.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // Aborted by the kill: nothing of this write was accepted.
            }

            return;
        }

        byte[] body;
        try
        {
            body = await FakeUpstream.ReadBodyAsync(context);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or Microsoft.AspNetCore.Connections.ConnectionResetException or BadHttpRequestException)
        {
            // The body broke off (FastProxy or the kill aborted it): nothing was accepted, nothing counted.
            return;
        }

        List<(string Series, long TimestampMs)> samples;
        try
        {
            samples = RemoteWriteCounter.Samples(body);
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            _problems.Enqueue($"undecodable body of {body.Length} bytes: {ex.Message}");
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        lock (_samples)
        {
            foreach (var sample in samples)
            {
                _samples.Add(sample);
            }
        }

        Interlocked.Add(ref _decodedSamples, samples.Count);
        Interlocked.Increment(ref _acceptedWrites);
        _changed.Notify();
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
