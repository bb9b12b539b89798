using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// A target that reads slowly must slow the client down, not fill FastProxy's memory: a 256 MiB
/// body through the real process stays within a small, fixed memory budget and arrives intact.
/// </summary>
public sealed class BackPressureTests
{
    private const long BodyBytes = 256L * 1024 * 1024;
    private const int BlockBytes = 1024 * 1024;
    private const long MemoryBudget = 100L * 1024 * 1024;
    private static readonly TimeSpan SlowPhase = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task SlowReadingTarget_256MiBBody_ProxyMemoryStaysBounded_AndTheBodyArrivesIntact()
    {
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["MAX_REQUEST_BODY_BYTES"] = "0",
        });
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));

        // Warm up (JIT, pools, first connection) so the baseline is the serving process.
        using (var warm = await proxy.PostRemoteWriteAsync(new byte[BlockBytes]))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        var baseline = ReadStatusKilobytes(proxy.Process.Id, "VmRSS") * 1024;

        long clientSent = 0;
        long sentWhenSlowPhaseEnded = -1;
        long peakRssInSlowPhase = 0;
        var received = 0L;
        byte[]? receivedHash = null;
        proxy.Upstream.Behavior = async (context, _) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var reader = context.Request.BodyReader;
            var slowUntil = Stopwatch.StartNew();
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                var buffer = read.Buffer;
                if (slowUntil.Elapsed < SlowPhase)
                {
                    // Slow phase: 64 KiB every 50 ms (about 1.3 MB/s) while the client could send
                    // hundreds of MB/s. A proxy without back-pressure would take it all in now.
                    buffer = buffer.Slice(0, Math.Min(buffer.Length, 64 * 1024));
                    peakRssInSlowPhase = Math.Max(peakRssInSlowPhase, ReadStatusKilobytes(proxy.Process.Id, "VmRSS") * 1024);
                }
                else if (sentWhenSlowPhaseEnded < 0)
                {
                    sentWhenSlowPhaseEnded = Interlocked.Read(ref clientSent);
                }

                foreach (var segment in buffer)
                {
                    hash.AppendData(segment.Span);
                }

                received += buffer.Length;
                reader.AdvanceTo(buffer.End);
                if (read.IsCompleted && buffer.End.Equals(read.Buffer.End))
                {
                    break;
                }

                if (slowUntil.Elapsed < SlowPhase)
                {
                    await Task.Delay(50, context.RequestAborted);
                }
            }

            receivedHash = hash.GetHashAndReset();
            context.Response.StatusCode = 204;
        };

        // The body is generated block by block (never held whole): 1 MiB of random bytes with the
        // block number stamped in front, so a lost, repeated or reordered block changes the hash.
        var pattern = RandomNumberGenerator.GetBytes(BlockBytes);
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var content = new PushContent(async (stream, ct) =>
        {
            var block = ArrayPool<byte>.Shared.Rent(BlockBytes);
            try
            {
                pattern.CopyTo(block, 0);
                for (var i = 0; i < BodyBytes / BlockBytes; i++)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(block, i);
                    sentHash.AppendData(block, 0, BlockBytes);
                    await stream.WriteAsync(block.AsMemory(0, BlockBytes), ct);
                    Interlocked.Add(ref clientSent, BlockBytes);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }
        }, BodyBytes);

        var started = Stopwatch.StartNew();
        using var response = await proxy.Client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), content, TestContext.Current.CancellationToken);
        var elapsed = started.Elapsed;

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(BodyBytes, received);
        Assert.Equal(sentHash.GetHashAndReset(), receivedHash);

        // Back-pressure reached the client: while the target read slowly, the client could only
        // send what the buffers on the way hold (socket buffers, Kestrel's pipes), not the body.
        Assert.InRange(sentWhenSlowPhaseEnded, 1, 64L * 1024 * 1024);

        var peak = ReadStatusKilobytes(proxy.Process.Id, "VmHWM") * 1024;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"baseline RSS {baseline / 1048576} MiB, peak {peak / 1048576} MiB (slow phase {peakRssInSlowPhase / 1048576} MiB), " +
            $"client had sent {sentWhenSlowPhaseEnded / 1048576} MiB when the slow phase ended, {elapsed.TotalSeconds:0.0} s in all");
        Assert.True(peak - baseline < MemoryBudget,
            $"FastProxy's peak RSS grew {(peak - baseline) / 1048576} MiB above its {baseline / 1048576} MiB baseline for a streamed body");
        Assert.False(proxy.Process.HasExited);
    }

    /// <summary>A kB value from /proc/&lt;pid&gt;/status (VmRSS: resident now; VmHWM: the peak so far).</summary>
    private static long ReadStatusKilobytes(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"no {field} in /proc/{pid}/status");
    }
}
