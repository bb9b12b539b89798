using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using FastProxy.Diagnostics;
using FastProxy.Listener;
using FastProxy.Telemetry;

namespace FastProxy.Forwarding;

/// <summary>
/// The upstream request body: copies from the client's <see cref="PipeReader"/> to the upstream
/// connection as bytes arrive, never holding the whole body.
/// </summary>
/// <remarks>
/// Hand-written because it is the hot path: <c>StreamContent</c> over the request stream writes in
/// small pieces (a probe measured ≈ 3.5 KB per send and 14 sends per 49 KB request), while
/// Kestrel's pipe usually already holds several 4 KB segments. Gathering what is buffered into one
/// pooled 64 KB block makes one large write per read.
/// </remarks>
internal sealed class StreamingRequestContent : HttpContent
{
    internal const int CopyBlockSize = 64 * 1024;

    private readonly PipeReader _source;
    private readonly long? _contentLength;
    private readonly ActivityTimeout _activity;
    private readonly ForwardingTelemetry? _telemetry;
    private readonly string _route;

    // NotStarted, Copying, then Stopped once the copy has let go of the client's body.
    private int _started;
    private const int NotStartedState = 0, CopyingState = 1, StoppedState = 2;
    private TaskCompletionSource? _stopped;

    public StreamingRequestContent(PipeReader source, long? contentLength, ActivityTimeout activity, ForwardingTelemetry? telemetry = null, string route = "")
    {
        _source = source;
        _contentLength = contentLength;
        _activity = activity;
        _telemetry = telemetry;
        _route = route;
        if (contentLength is { } length)
        {
            Headers.ContentLength = length;
        }
    }

    /// <summary>Bytes read from the client so far.</summary>
    public long BytesCopied { get; private set; }

    /// <summary>True once the client's body has been read to its end.</summary>
    public bool ReachedEnd { get; private set; }

    /// <summary>Set when reading from the client failed (client gone, body malformed).</summary>
    public Exception? ClientError { get; private set; }

    public bool Started => Volatile.Read(ref _started) != NotStartedState;

    /// <summary>True from the start of the copy until it has stopped (finished or failed).</summary>
    public bool Copying => Volatile.Read(ref _started) == CopyingState;

    // Set on the 1 request in N that the diagnostics tap samples: the body is also copied into
    // the capture while it streams, and handed to the tap once complete.
    private TapCapture? _capture;

    public void StartCapture(TapCapture capture) => _capture = capture;

    // Set only for a chunked body to an Azure Monitor ingestion route: flagged once the streamed
    // count passes the 1 MB limit (a declared Content-Length is flagged before forwarding). One
    // field, and an object only on that path, so the common request does not grow.
    private ChunkedSizeWatch? _sizeWatch;

    private sealed record ChunkedSizeWatch(AzureBodySizeWatch Watch, ProxyRoute Route);

    public void WatchSize(AzureBodySizeWatch watch, ProxyRoute route) => _sizeWatch = new ChunkedSizeWatch(watch, route);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, CopyingState) != NotStartedState)
        {
            // A retry of the same request by the handler cannot replay a streamed body.
            throw new InvalidOperationException("The request body was already sent and cannot be replayed.");
        }

        // Over HTTP/1.1 SocketsHttpHandler passes the token the forwarder gave SendAsync, the
        // activity's. Over HTTP/2 it passes the stream's own (the target reset the stream, the
        // connection failed), and the activity's must stop the copy too: the forwarder fires it
        // when the forward ends before the copy did (HttpForwarder.ForwardAsync).
        var token = _activity.Token;
        CancellationTokenSource? linked = null;
        if (cancellationToken.CanBeCanceled && cancellationToken != token)
        {
            linked = CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken);
            token = linked.Token;
        }

        // A read waiting for the client is stopped with CancelPendingRead, never with the token:
        // Kestrel's HTTP/1.1 body stays "reading" after a read its token cancelled, and its own
        // reading of the rest of the body then fails and closes the client's connection.
        var stopReads = token.UnsafeRegister(static reader => ((PipeReader)reader!).CancelPendingRead(), _source);
        byte[]? block = null;
        var unflushed = false;
        try
        {
            while (true)
            {
                // SocketsHttpHandler buffers what is written (HTTP/1.1 up to 4 KB, HTTP/2 up to 32 KB,
                // the request head included) until its buffer fills or the body ends. When the
                // client is slower than that, what it sent so far must not wait in the buffer for
                // what it has yet to send: flush before waiting for the client. A body that is
                // already in when it is read never waits, and never pays for a flush.
                if (!unflushed || !TryReadClient(out var result))
                {
                    if (unflushed)
                    {
                        unflushed = false;
                        await stream.FlushAsync(token);
                    }

                    try
                    {
                        result = await _source.ReadAsync(CancellationToken.None);
                    }
                    catch (Exception ex)
                    {
                        ClientError = ex;
                        throw;
                    }
                }

                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    // Nothing consumed: what is buffered stays for Kestrel to read away.
                    _source.AdvanceTo(buffer.Start);
                    token.ThrowIfCancellationRequested();
                    continue;
                }

                try
                {
                    if (!buffer.IsEmpty)
                    {
                        if (buffer.IsSingleSegment)
                        {
                            await WriteAsync(stream, buffer.First, token);
                        }
                        else
                        {
                            block ??= ArrayPool<byte>.Shared.Rent(CopyBlockSize);
                            await WriteGatheredAsync(stream, buffer, block, token);
                        }

                        _capture?.Append(buffer);
                        BytesCopied += buffer.Length;
                        if (_sizeWatch is not null && BytesCopied > AzureBodySizeWatch.AzureMonitorLimitBytes)
                        {
                            _sizeWatch.Watch.Observe(_sizeWatch.Route, BytesCopied);
                            _sizeWatch = null;
                        }

                        _telemetry?.RequestBytes(_route, buffer.Length);
                        _activity.Touch();
                        unflushed = true;
                    }
                }
                finally
                {
                    // Also when the write failed: a read left open makes Kestrel's own reading of
                    // the rest of the body fail, and with it the client's kept-alive connection.
                    _source.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted)
                {
                    ReachedEnd = true;
                    if (_capture is { } capture)
                    {
                        // Ownership moves to the tap's decoder; the forward never waits for it.
                        _capture = null;
                        capture.Complete();
                    }

                    break;
                }
            }
        }
        finally
        {
            // Before the copy counts as stopped: no CancelPendingRead may reach the body after that.
            stopReads.Dispose();
            linked?.Dispose();
            // A body that broke off is not decoded.
            _capture?.Dispose();
            _capture = null;
            if (block is not null)
            {
                ArrayPool<byte>.Shared.Return(block);
            }

            // Last: from here on the copy no longer touches the client's body. The exchange is a
            // full fence, so a waiter registered before it is seen below, or sees the state.
            Interlocked.Exchange(ref _started, StoppedState);
            Volatile.Read(ref _stopped)?.TrySetResult();
        }
    }

    private bool TryReadClient(out ReadResult result)
    {
        try
        {
            return _source.TryRead(out result);
        }
        catch (Exception ex)
        {
            ClientError = ex;
            throw;
        }
    }

    /// <summary>
    /// Completes once the copy has stopped reading the client's body (at once when it never
    /// started or has finished). The forwarder waits for it, after firing the activity token, before
    /// handing the request back to Kestrel.
    /// </summary>
    public Task WhenStoppedAsync()
    {
        if (Volatile.Read(ref _started) != CopyingState)
        {
            return Task.CompletedTask;
        }

        // Only on the path where the target answered before the copy ended, so the common request
        // allocates nothing here. A second caller gets the first one's task.
        var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stopped = Interlocked.CompareExchange(ref _stopped, fresh, null) ?? fresh;
        if (Volatile.Read(ref _started) != CopyingState)
        {
            stopped.TrySetResult();
        }

        return stopped.Task;
    }

    protected override void Dispose(bool disposing)
    {
        // The upstream may fail before the body is read at all; the pooled copy goes back then too.
        if (disposing)
        {
            _capture?.Dispose();
            _capture = null;
        }

        base.Dispose(disposing);
    }

    private static async ValueTask WriteGatheredAsync(Stream stream, ReadOnlySequence<byte> buffer, byte[] block, CancellationToken cancellationToken)
    {
        var filled = 0;
        foreach (var segment in buffer)
        {
            var remaining = segment;
            while (!remaining.IsEmpty)
            {
                var take = Math.Min(remaining.Length, block.Length - filled);
                remaining.Span[..take].CopyTo(block.AsSpan(filled));
                filled += take;
                remaining = remaining[take..];
                if (filled == block.Length)
                {
                    await WriteAsync(stream, block.AsMemory(0, filled), cancellationToken);
                    filled = 0;
                }
            }
        }

        if (filled > 0)
        {
            await WriteAsync(stream, block.AsMemory(0, filled), cancellationToken);
        }
    }

    // Within the scope the upstream connection may hold the request head that SocketsHttpHandler
    // flushes first and send it with the body's write that follows (CoalescingNetworkStream).
    private static ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        using (BodyWriteScope.Enter())
        {
            return stream.WriteAsync(data, cancellationToken);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        // Unknown length means chunked upstream, as the client sent it.
        length = _contentLength ?? 0;
        return _contentLength is not null;
    }
}
