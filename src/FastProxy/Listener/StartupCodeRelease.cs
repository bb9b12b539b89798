using System.Globalization;
using System.Runtime.InteropServices;
using FastProxy.Identity;
using FastProxy.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FastProxy.Listener;

/// <summary>
/// Gives the executable's code and read-only data pages back to the kernel
/// (<c>madvise(MADV_PAGEOUT)</c>) once start-up is over — the listener runs and every token source
/// has held its first token for <see cref="Delay"/> — so that the code only start-up needed
/// (configuration, Azure.Identity's first token, Kestrel's binding) does not stay resident. The
/// forwarding path faults its own pages back in on its next requests.
/// </summary>
/// <remarks>
/// Measured (perf-baselines/CHANGES.md, round 5): an idle native process held 20 of its 22 MB of
/// executable resident, because the kernel maps file pages around every fault; after the release
/// ≈ 6 MB of file pages stay resident at idle and 15 MB after 20,000 requests. Idle RSS drops from
/// ≈ 32 to ≈ 18 MB, and since the pages leave the page cache too when no other process maps them
/// (pages another process maps are skipped by the kernel), so does the container's memory charge.
/// CPU per request does not change. Only the native-AOT executable is released
/// (<see cref="RuntimeSettings.IsNativeAot"/>): on the JIT the executable is the dotnet host and
/// the code lives elsewhere. Writable mappings are left alone. Best effort: a kernel without MADV_PAGEOUT (before 5.4) or a sandbox
/// that refuses it changes nothing but the debug line.
/// </remarks>
internal sealed partial class StartupCodeRelease : BackgroundService
{
    private const int MadvPageout = 21;

    /// <summary>
    /// How long after the first token the pages go. Released at once, they collided with the
    /// readiness probe on a 2-core machine: the code answering it had to be read back from the
    /// file, and start-to-ready went from a median of 50 to 70 ms. Five seconds on, start-up is over.
    /// </summary>
    public static readonly TimeSpan Delay = TimeSpan.FromSeconds(5);

    private readonly TokenSources _tokens;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public StartupCodeRelease(TokenSources tokens, IHostApplicationLifetime lifetime, TimeProvider time, ILogger logger)
    {
        _tokens = tokens;
        _lifetime = lifetime;
        _time = time;
        _logger = logger;
    }

    /// <summary>Native AOT on Linux: the only case where the executable holds the code.</summary>
    public static bool Applies => OperatingSystem.IsLinux() && RuntimeSettings.IsNativeAot;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (_lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken);
            }

            await Task.WhenAll(_tokens.All.Select(s => s.FirstToken)).WaitAsync(stoppingToken);
            // Resumes on a timer (thread pool) thread, never on a socket event thread, which the
            // few milliseconds of madvise must not hold.
            await Task.Delay(Delay, _time, stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var executable = Environment.ProcessPath;
        if (executable is null)
        {
            return;
        }

        // VmRSS from /proc/self/status on Linux.
        var residentBefore = Environment.WorkingSet;
        var (mappings, released, error) = Release(executable);
        var residentAfter = Environment.WorkingSet;
        Log.StartupCodeReleased(_logger, mappings, released / 1048576.0, residentBefore / 1048576.0, residentAfter / 1048576.0, error);
    }

    /// <summary>
    /// Advises MADV_PAGEOUT for every read-only or executable mapping of <paramref name="path"/>;
    /// returns how many mappings and bytes were advised and the first error number, if any.
    /// </summary>
    internal static (int Mappings, long Bytes, int Error) Release(string path)
    {
        int mappings = 0, error = 0;
        long bytes = 0;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            if (!TryParseMapping(line, out var start, out var end, out var writable, out var mappedPath) ||
                writable || !string.Equals(mappedPath, path, StringComparison.Ordinal))
            {
                continue;
            }

            if (Madvise((nint)start, (nuint)(end - start), MadvPageout) == 0)
            {
                mappings++;
                bytes += (long)(end - start);
            }
            else if (error == 0)
            {
                error = Marshal.GetLastPInvokeError();
            }
        }

        return (mappings, bytes, error);
    }

    /// <summary>One line of /proc/self/maps: "start-end perms offset dev inode [path]".</summary>
    internal static bool TryParseMapping(string line, out ulong start, out ulong end, out bool writable, out string? path)
    {
        start = end = 0;
        writable = false;
        path = null;
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5)
        {
            return false;
        }

        var range = fields[0].Split('-');
        if (range.Length != 2 ||
            !ulong.TryParse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out start) ||
            !ulong.TryParse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out end) ||
            end <= start || fields[1].Length < 2)
        {
            return false;
        }

        writable = fields[1][1] == 'w';
        path = fields.Length == 6 ? fields[5].Trim() : null;
        return true;
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
