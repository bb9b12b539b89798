using System.Text;
using FastProxy.Forwarding;
using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>
/// The Information line an operator reads instead of per-request logs, like the remote-write
/// sidecar's: every interval, requests, bytes each way, average and maximum duration, and failures
/// by kind. Counters are interlocked adds; the timer comes from <see cref="TimeProvider"/>, so
/// tests drive it with a fake clock.
/// </summary>
internal sealed class TrafficSummary : IDisposable
{
    private static readonly ForwarderError[] Kinds = Enum.GetValues<ForwarderError>();

    private readonly ILogger _logger;
    private readonly TimeSpan _interval;
    private readonly ITimer? _timer;

    // Interval totals, swapped to zero at each report. A request finishing during the swap lands
    // in one interval or the next, never in none.
    private long _requests;
    private long _requestBytes;
    private long _responseBytes;
    private long _durationTicks;
    private long _maxDurationTicks;
    private readonly long[] _failures = new long[Kinds.Length];

    public TrafficSummary(ILogger logger, TimeProvider time, TimeSpan interval)
    {
        _logger = logger;
        _interval = interval;
        if (interval > TimeSpan.Zero)
        {
            _timer = time.CreateTimer(static state => ((TrafficSummary)state!).Report(), this, interval, interval);
        }
    }

    public void RequestBytes(long bytes) => Interlocked.Add(ref _requestBytes, bytes);

    public void ResponseBytes(long bytes) => Interlocked.Add(ref _responseBytes, bytes);

    public void RequestCompleted(TimeSpan duration)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _durationTicks, duration.Ticks);
        var max = Volatile.Read(ref _maxDurationTicks);
        while (duration.Ticks > max)
        {
            var seen = Interlocked.CompareExchange(ref _maxDurationTicks, duration.Ticks, max);
            if (seen == max)
            {
                break;
            }

            max = seen;
        }
    }

    public void Failed(ForwarderError error) => Interlocked.Increment(ref _failures[(int)error]);

    /// <summary>Logs the interval's figures and starts the next interval.</summary>
    internal void Report()
    {
        var requests = Interlocked.Exchange(ref _requests, 0);
        var requestBytes = Interlocked.Exchange(ref _requestBytes, 0);
        var responseBytes = Interlocked.Exchange(ref _responseBytes, 0);
        var durationTicks = Interlocked.Exchange(ref _durationTicks, 0);
        var maxTicks = Interlocked.Exchange(ref _maxDurationTicks, 0);
        // Kinds as the metrics label them; two enum members may share one (both client-gone cases).
        var byKind = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long failureCount = 0;
        foreach (var kind in Kinds)
        {
            var count = Interlocked.Exchange(ref _failures[(int)kind], 0);
            if (count > 0)
            {
                failureCount += count;
                var label = ProxyMetrics.ErrorKind(kind).Kind;
                byKind[label] = byKind.GetValueOrDefault(label) + count;
            }
        }

        var failures = new StringBuilder();
        foreach (var (label, count) in byKind)
        {
            failures.Append(failures.Length == 0 ? "" : ", ").Append(label).Append('=').Append(count);
        }

        var averageMs = requests == 0 ? 0 : TimeSpan.FromTicks(durationTicks / requests).TotalMilliseconds;
        var maxMs = TimeSpan.FromTicks(maxTicks).TotalMilliseconds;
        var failureText = failures.Length == 0 ? "none" : failures.ToString();
        Log.TrafficSummary(_logger, _interval.TotalSeconds, requests, requestBytes, responseBytes, averageMs, maxMs, failureCount, failureText);
    }

    public void Dispose() => _timer?.Dispose();
}
