using FastProxy.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace FastProxy.Listener;

/// <summary>
/// Kestrel settings chosen by measurement (perf-baselines/CHANGES.md); the security limits stay in
/// <see cref="ProxyServer"/>.
/// </summary>
/// <remarks>
/// Inline I/O completions (<c>IO_COMPLETIONS=inline</c>, the default) run a request from the
/// client's bytes to the target's answer on the socket event threads, one per core, as nginx's
/// workers do. With the thread pool in between, every receive was a hand-off: ≈ 3 context
/// switches per proxied 12.8 KB request against 0.6 inline, and 1.2–1.4× the CPU time per
/// HTTP/1.1 request (h2c: the same either way, Kestrel's HTTP/2 layer queues streams to the pool
/// itself; perf-baselines/CHANGES.md, round 4). It takes both halves: the runtime's socket engine
/// (<see cref="InlineCompletionsVariable"/>) and Kestrel's pipes
/// (<c>SocketTransportOptions.UnsafePreferInlineScheduling</c>); either alone kept most hops.
/// The price: request code must never block, or it stalls every connection of that event thread.
/// FastProxy's path awaits its I/O; what remains synchronous is bounded: one request or handshake
/// a second stats the inbound-token and TLS files (re-read only on change), the payload tap hands
/// bodies to its decoder through a channel, and the console logger drops lines rather than wait
/// for a stalled stdout (<see cref="ProxyServer"/>). <c>threadpool</c> is the way back.
/// Measured and not adopted: <c>IOQueueCount = 0</c> and
/// <c>WaitForDataBeforeAllocatingBuffer = false</c> (no measurable change).
/// </remarks>
internal static class KestrelTuning
{
    /// <summary>
    /// HTTP/2 flow-control windows. Kestrel's defaults (768 KB per stream, 1 MB per connection) let
    /// each h2c connection buffer up to 1 MB of request body the forwarder has not yet taken; with
    /// 8 connections × 8 streams of 1 MiB POSTs, 256 KB / 512 KB lowered peak RSS from 60 to 50 MB at
    /// the same CPU per request. 256 KB still covers the bandwidth-delay product of a cluster network
    /// (10 Gbit/s × 0.2 ms ≈ 250 KB).
    /// </summary>
    public const int Http2StreamWindowBytes = 256 * 1024;

    /// <inheritdoc cref="Http2StreamWindowBytes"/>
    public const int Http2ConnectionWindowBytes = 512 * 1024;

    /// <summary>
    /// Read once by System.Net.Sockets when the process makes its first asynchronous socket call;
    /// "1" completes socket operations on the event threads, which then number one per core.
    /// </summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Read with <see cref="InlineCompletionsVariable"/>: the number of socket event threads.</summary>
    public const string EventThreadsVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>
    /// Sets the runtime half of <see cref="ProxyOptions.InlineIoCompletions"/> and
    /// <see cref="ProxyOptions.IoThreads"/> for the whole process. Call it before the first socket
    /// is used (the runtime reads them once); the commands do, right after reading the configuration.
    /// </summary>
    /// <remarks>
    /// One event thread (<c>IO_THREADS=1</c>) is how nginx runs with one worker: on a 2-core machine
    /// it needed 0.85x the CPU per 12.8 KB and 0.86x per 49 KB HTTP/1.1 request of one thread per
    /// core (context switches 0.62 to 0.02 per request: the thread never waits for work), the same
    /// for h2c, 1.07x per 1 MiB GET; but HTTP/1.1 forwarding then has one core
    /// (perf-baselines/CHANGES.md, round 6). The default stays the runtime's, one per core.
    /// </remarks>
    public static void ApplyToProcess(bool inlineIoCompletions, int? ioThreads = null)
    {
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, inlineIoCompletions ? "1" : "0");
        if (ioThreads is { } count)
        {
            Environment.SetEnvironmentVariable(EventThreadsVariable, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    public static void Apply(WebApplicationBuilder builder, ProxyOptions options)
    {
        // Kestrel's half of inline completions: its pipes resume request code on the thread that
        // completed the socket operation instead of queueing it to the thread pool.
        builder.Services.Configure<SocketTransportOptions>(o => o.UnsafePreferInlineScheduling = options.InlineIoCompletions);
        // 64 KB receive blocks instead of Kestrel's 4 KB (LargeBlockMemoryPool).
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.Http2.InitialStreamWindowSize = Http2StreamWindowBytes;
            kestrel.Limits.Http2.InitialConnectionWindowSize = Http2ConnectionWindowBytes;
        });
    }
}
