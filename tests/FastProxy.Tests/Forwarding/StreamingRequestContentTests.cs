using System.IO.Pipelines;
using FastProxy.Forwarding;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Forwarding;

/// <summary>
/// The request-body copy lets go of the client's body whatever ends it: the forwarder's
/// <see cref="ActivityTimeout.Abandon"/> while it waits for the client, or a failed write. A read
/// left open there is what broke kept-alive client connections over HTTP/2 targets: Kestrel's own
/// reading of the rest of the body then fails (perf-baselines/CHANGES.md, round 8). And it flushes
/// what it wrote before it waits for a client slower than the target, and only then (round 9).
/// </summary>
public sealed class StreamingRequestContentTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Abandoned_WhileWaitingForTheClient_StopsAndLeavesTheBodyReaderFree()
    {
        var client = new Pipe();
        using var activity = new ActivityTimeout(TimeSpan.FromMinutes(1), new FakeTimeProvider(), CancellationToken.None);
        using var content = new StreamingRequestContent(client.Reader, contentLength: 1000, activity);
        var target = new RecordingStream();
        await client.Writer.WriteAsync(new byte[100], Cancel);

        var copy = content.CopyToAsync(target, Cancel);
        await target.FirstWrite.WaitAsync(Bound, Cancel);
        Assert.True(content.Copying);
        var stopped = content.WhenStoppedAsync();
        Assert.False(stopped.IsCompleted);
        Assert.Same(stopped, content.WhenStoppedAsync());

        activity.Abandon();
        await stopped.WaitAsync(Bound, Cancel);

        Assert.False(content.Copying);
        Assert.False(content.ReachedEnd);
        Assert.Equal(100, content.BytesCopied);
        Assert.False(activity.TimedOut);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => copy);
        await AssertTheNextReaderCanReadAsync(client);
    }

    [Fact]
    public async Task WriteFails_WhatWasReadIsReleased()
    {
        var client = new Pipe();
        using var activity = new ActivityTimeout(TimeSpan.FromMinutes(1), new FakeTimeProvider(), CancellationToken.None);
        using var content = new StreamingRequestContent(client.Reader, contentLength: 1000, activity);
        await client.Writer.WriteAsync(new byte[100], Cancel);

        var failed = await Assert.ThrowsAsync<HttpRequestException>(() => content.CopyToAsync(new RecordingStream { FailWrites = true }, Cancel));
        Assert.IsType<IOException>(failed.InnerException);

        await content.WhenStoppedAsync().WaitAsync(Bound, Cancel);
        await AssertTheNextReaderCanReadAsync(client);
    }

    [Fact]
    public async Task WhenStopped_IsCompleteBeforeTheCopyStartsAndAfterItEnds()
    {
        var client = new Pipe();
        using var activity = new ActivityTimeout(TimeSpan.FromMinutes(1), new FakeTimeProvider(), CancellationToken.None);
        using var content = new StreamingRequestContent(client.Reader, contentLength: 10, activity);
        Assert.True(content.WhenStoppedAsync().IsCompleted);

        await client.Writer.WriteAsync(new byte[10], Cancel);
        await client.Writer.CompleteAsync();
        var target = new RecordingStream();
        await content.CopyToAsync(target, Cancel);

        Assert.True(content.ReachedEnd);
        Assert.True(content.WhenStoppedAsync().IsCompleted);
        Assert.Equal(10, target.Written);
    }

    [Fact]
    public async Task ClientSlowerThanTheTarget_WhatWasWrittenIsFlushedBeforeTheCopyWaits()
    {
        // SocketsHttpHandler holds small writes until a flush: without one, these 100 bytes (and
        // the request head) would wait for the 200 the client has yet to send.
        var client = new Pipe();
        using var activity = new ActivityTimeout(TimeSpan.FromMinutes(1), new FakeTimeProvider(), CancellationToken.None);
        using var content = new StreamingRequestContent(client.Reader, contentLength: 300, activity);
        var target = new RecordingStream();
        await client.Writer.WriteAsync(new byte[100], Cancel);

        var copy = content.CopyToAsync(target, Cancel);
        await target.FirstFlush.WaitAsync(Bound, Cancel);
        Assert.Equal(100, target.WrittenAtFirstFlush);

        await client.Writer.WriteAsync(new byte[200], Cancel);
        await client.Writer.CompleteAsync();
        await copy.WaitAsync(Bound, Cancel);
        Assert.Equal(300, target.Written);
        Assert.True(content.ReachedEnd);
    }

    [Fact]
    public async Task BodyAlreadyIn_IsCopiedWithoutAFlush()
    {
        // The common request (Prometheus sends its batch at once) pays nothing for the flush above:
        // the handler ends the body itself.
        var client = new Pipe();
        using var activity = new ActivityTimeout(TimeSpan.FromMinutes(1), new FakeTimeProvider(), CancellationToken.None);
        using var content = new StreamingRequestContent(client.Reader, contentLength: 300, activity);
        var target = new RecordingStream();
        await client.Writer.WriteAsync(new byte[100], Cancel);
        await client.Writer.WriteAsync(new byte[200], Cancel);
        await client.Writer.CompleteAsync();

        await content.CopyToAsync(target, Cancel);

        Assert.Equal(300, target.Written);
        Assert.Equal(0, target.Flushes);
    }

    /// <summary>
    /// No read is left open on the client's body: the next reader (Kestrel, reading the rest of the
    /// body away) can read what arrives next.
    /// </summary>
    private static async Task AssertTheNextReaderCanReadAsync(Pipe client)
    {
        await client.Writer.WriteAsync(new byte[50], Cancel);
        Assert.True(client.Reader.TryRead(out var next));
        Assert.Equal(50, next.Buffer.Length);
        client.Reader.AdvanceTo(next.Buffer.End);
    }

    /// <summary>Counts what is written and flushed and signals the first write and flush; or fails every write.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly TaskCompletionSource _firstWrite = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _firstFlush = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool FailWrites { get; init; }

        public Task FirstWrite => _firstWrite.Task;

        public long Written { get; private set; }

        public Task FirstFlush => _firstFlush.Task;

        public int Flushes { get; private set; }

        /// <summary>Bytes written before the first flush.</summary>
        public long WrittenAtFirstFlush { get; private set; } = -1;

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            if (Flushes++ == 0)
            {
                WrittenAtFirstFlush = Written;
                _firstFlush.TrySetResult();
            }

            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (FailWrites)
            {
                return ValueTask.FromException(new IOException("the target reset the stream"));
            }

            Written += buffer.Length;
            _firstWrite.TrySetResult();
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
