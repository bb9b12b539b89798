using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace FastProxy.Listener;

/// <summary>
/// Kestrel's memory pool with 64 KB blocks instead of its default 4 KB.
/// </summary>
/// <remarks>
/// Kestrel's socket transport receives into the free part of the current pipe block, so with 4 KB
/// blocks a 49 KB remote-write body costs a dozen or more <c>recvfrom</c> calls (the probe
/// saw ≈ 28 per request, nginx ≈ 10 with its 16–64 KB buffers). 64 KB blocks let one call take
/// what the kernel holds, and a 49 KB body then usually sits in one block, so the request-body copy
/// writes it upstream as it is instead of gathering pieces into a second buffer (32 KB blocks
/// split every such body: one extra 49 KB memcpy per request, ≈ 43 % of the user-space
/// instructions, and 2 more <c>recvfrom</c>). Blocks are pinned (the socket reads into them) and
/// pooled; at most <see cref="MaxIdleBlocks"/> are kept when idle (4 MB), the rest are left to the
/// GC, so an idle proxy shrinks back.
/// Measured gain: perf-baselines/CHANGES.md.
/// </remarks>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;
    private const int MaxIdleBlocks = 64;

    private readonly ConcurrentQueue<Block> _idle = new();
    private int _idleCount;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_idle.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _idleCount);
            return block;
        }

        return new Block(this);
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _idleCount) <= MaxIdleBlocks)
        {
            _idle.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _idleCount);
        }
    }

    protected override void Dispose(bool disposing) => _idle.Clear();

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly LargeBlockMemoryPool _pool;
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public Block(LargeBlockMemoryPool pool) => _pool = pool;

        public Memory<byte> Memory => _array;

        public void Dispose() => _pool.Return(this);
    }
}

/// <summary>Hands Kestrel's transport a <see cref="LargeBlockMemoryPool"/>.</summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}
