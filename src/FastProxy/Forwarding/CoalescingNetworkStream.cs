using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FastProxy.Forwarding;

/// <summary>
/// The stream of an upstream connection: a <see cref="NetworkStream"/> that sends the request head
/// together with the body that follows it, in one system call and one packet.
/// </summary>
/// <remarks>
/// Hand-written because it is the hot path. SocketsHttpHandler writes an HTTP/1.1 request whose
/// body outgrows its 4 KB buffer in two sends: the buffer (the head and the start of the body),
/// then the rest. Each send is a packet of its own and, when the target sleeps between them, a
/// wake-up of its own. With 12.8 KB bodies that cost FastProxy ≈ 5 µs of kernel time per request
/// (perf-baselines/CHANGES.md, round 16).
/// <para>
/// While the body copy is inside one write to SocketsHttpHandler (<see cref="BodyWriteScope"/>), the
/// first small write that reaches the connection is held and goes out with the next one as one
/// gathering send. What is still held when that body write returns is sent then. Nothing waits
/// beyond the body copy's own write call, whatever SocketsHttpHandler does inside it. Every other
/// write passes straight through, after anything held.
/// </para>
/// </remarks>
internal sealed partial class CoalescingNetworkStream(Socket socket) : NetworkStream(socket, ownsSocket: true)
{
    /// <summary>
    /// Writes up to this size are held: SocketsHttpHandler's HTTP/1.1 buffer is 4 KB, and a TLS
    /// record of it a little more. Larger writes are sent at once; their system call is amortised.
    /// </summary>
    internal const int HoldLimit = 16 * 1024;

    private readonly Lock _gate = new();

    // A write held back within a body write scope (rented, HoldLimit bytes), and its length.
    private byte[]? _held;
    private int _heldLength;

    // The send of held data that a scope's end started; the connection's next write follows it.
    private Task _heldSend = Task.CompletedTask;
    private Exception? _heldSendError;

    /// <summary>Bytes held for the next write; for tests.</summary>
    internal int HeldLength
    {
        get
        {
            lock (_gate)
            {
                return _held is null ? 0 : _heldLength;
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        byte[]? held;
        int heldLength;
        Task prior;
        lock (_gate)
        {
            if (_held is null && _heldSend.IsCompleted && _heldSendError is null && buffer.Length is > 0 and <= HoldLimit
                && BodyWriteScope.TryHold(this))
            {
                _held = ArrayPool<byte>.Shared.Rent(HoldLimit);
                buffer.Span.CopyTo(_held);
                _heldLength = buffer.Length;
                return ValueTask.CompletedTask;
            }

            held = _held;
            heldLength = _heldLength;
            _held = null;
            prior = _heldSend;
        }

        if (!prior.IsCompleted || _heldSendError is not null)
        {
            // Nothing can be held here: holding waits for the last held send to have succeeded.
            Debug.Assert(held is null, "a write was held while an earlier held send was pending or had failed");
            return WriteAfterHeldSendAsync(prior, buffer, cancellationToken);
        }

        return held is null ? base.WriteAsync(buffer, cancellationToken) : SendGatheredAsync(held, heldLength, buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override IAsyncResult BeginWrite(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state) =>
        TaskToAsyncResult.Begin(WriteAsync(buffer, offset, count, CancellationToken.None), callback, state);

    public override void EndWrite(IAsyncResult asyncResult) => TaskToAsyncResult.End(asyncResult);

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        SendHeldNow();
        base.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
        SendHeldNow();
        base.Flush();
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        // A flush asks for what was written to be on its way: held data included.
        var send = SendHeldAtScopeEnd();
        return send.IsCompleted && _heldSendError is null ? Task.CompletedTask : FlushAfterAsync(send);
    }

    private async Task FlushAfterAsync(Task send)
    {
        await send;
        ThrowIfHeldSendFailed();
    }

    /// <summary>
    /// Starts sending what is still held, once the write scope that held it has ended. The send is
    /// not awaited there: the connection's next write follows it, and a failure surfaces on that
    /// write, on this connection, where SocketsHttpHandler handles it.
    /// </summary>
    internal Task SendHeldAtScopeEnd()
    {
        lock (_gate)
        {
            if (_held is not { } held)
            {
                return _heldSend;
            }

            _held = null;
            _heldSend = SendHeldAsync(held, _heldLength);
            return _heldSend;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_gate)
            {
                if (_held is { } held)
                {
                    _held = null;
                    ArrayPool<byte>.Shared.Return(held);
                }
            }
        }

        base.Dispose(disposing);
    }

    private async Task SendHeldAsync(byte[] held, int length)
    {
        try
        {
            await base.WriteAsync(held.AsMemory(0, length), CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Kept for the connection's next write, which throws it where SocketsHttpHandler expects
            // a failed connection; this task itself never fails, so nothing goes unobserved.
            _heldSendError = ex;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    private async ValueTask WriteAfterHeldSendAsync(Task prior, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await prior;
        ThrowIfHeldSendFailed();
        await base.WriteAsync(buffer, cancellationToken);
    }

    private ValueTask SendGatheredAsync(byte[] held, int heldLength, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var sent = TrySendBoth(held.AsSpan(0, heldLength), buffer.Span);
        if (sent == heldLength + buffer.Length)
        {
            ArrayPool<byte>.Shared.Return(held);
            return ValueTask.CompletedTask;
        }

        // The socket's buffer was full, or the gathering send is not available here: the rest goes
        // the handler's usual way, which waits for the socket and reports its errors.
        return SendRestAsync(held, heldLength, sent, buffer, cancellationToken);
    }

    private async ValueTask SendRestAsync(byte[] held, int heldLength, int sent, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            if (sent < heldLength)
            {
                await base.WriteAsync(held.AsMemory(sent, heldLength - sent), cancellationToken);
                sent = heldLength;
            }

            await base.WriteAsync(buffer[(sent - heldLength)..], cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    /// <summary>
    /// Both pieces in one non-blocking <c>sendmsg</c>; the bytes it took, 0 when it took none.
    /// </summary>
    /// <remarks>
    /// Hand-written because .NET's own gathering send (<c>Socket.SendAsync</c> with a buffer list)
    /// pins each buffer with a GC handle and allocates a task: ≈ 2,400 instructions per request
    /// more than this method (callgrind, round 16). Here both pieces are pinned for the call only,
    /// and whatever the kernel does not take at once is sent the usual way.
    /// </remarks>
    private unsafe int TrySendBoth(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        // The msghdr below is the Linux layout of 64-bit processes (x64 and arm64, FastProxy's targets).
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            return 0;
        }

        var handle = Socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            fixed (byte* firstBytes = first)
            fixed (byte* secondBytes = second)
            {
                var pieces = stackalloc IoVector[2];
                pieces[0] = new IoVector { Base = firstBytes, Length = (nuint)first.Length };
                pieces[1] = new IoVector { Base = secondBytes, Length = (nuint)second.Length };
                var message = new MessageHeader { Vectors = pieces, VectorCount = 2 };
                var sent = SendMessage((int)handle.DangerousGetHandle(), &message, NoSignal | DontWait);
                // -1: the socket's buffer is full (EAGAIN) or the connection failed; the usual
                // send that follows waits for the first and reports the second.
                return sent < 0 ? 0 : (int)sent;
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private const int DontWait = 0x40, NoSignal = 0x4000;

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg")]
    private static unsafe partial nint SendMessage(int socket, MessageHeader* message, int flags);

    private void SendHeldNow()
    {
        SendHeldAtScopeEnd().GetAwaiter().GetResult();
        ThrowIfHeldSendFailed();
    }

    private void ThrowIfHeldSendFailed()
    {
        if (_heldSendError is { } error)
        {
            throw new IOException("Sending to the upstream connection failed.", error);
        }
    }
}

/// <summary>
/// Marks the body copy's write to SocketsHttpHandler, during which the upstream connection may hold
/// one small write for the next (<see cref="CoalescingNetworkStream"/>). Thread-static: everything
/// SocketsHttpHandler does synchronously inside the write runs on the writing thread, and nothing
/// it does later on another thread is held.
/// </summary>
internal static class BodyWriteScope
{
    [ThreadStatic] private static bool t_active;
    [ThreadStatic] private static CoalescingNetworkStream? t_holder;

    /// <summary>
    /// Opens the scope for one write; disposing it sends what is still held. Dispose it on the
    /// entering thread as soon as the write call returns, before awaiting the write.
    /// </summary>
    public static Scope Enter()
    {
        if (t_active)
        {
            // A write within a write (not expected): the outer scope stays in charge.
            return default;
        }

        t_active = true;
        return new Scope(owns: true);
    }

    /// <summary>True when the calling connection may hold its write: one connection per scope.</summary>
    internal static bool TryHold(CoalescingNetworkStream stream)
    {
        if (!t_active || t_holder is not null)
        {
            return false;
        }

        t_holder = stream;
        return true;
    }

    internal readonly struct Scope(bool owns) : IDisposable
    {
        public void Dispose()
        {
            if (!owns)
            {
                return;
            }

            t_active = false;
            var holder = t_holder;
            t_holder = null;
            _ = holder?.SendHeldAtScopeEnd();
        }
    }
}
