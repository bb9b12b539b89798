namespace FastProxy.Telemetry;

/// <summary>
/// At most one log line per interval for one kind of event, and a count of those held back, given
/// with the next line. An outage or a misconfigured client repeats the same event thousands of
/// times a second; the operator needs one line and the number, not a flood.
/// </summary>
internal sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private long _lastLogged;
    private long _suppressed;

    /// <summary>
    /// True when this occurrence should be logged, with how many were held back since the last
    /// line; false (and counted) otherwise. Lock-free: of concurrent callers at most one wins.
    /// </summary>
    public bool ShouldLog(out long suppressed)
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastLogged);
        if ((last != 0 && time.GetElapsedTime(last, now) < interval) || Interlocked.CompareExchange(ref _lastLogged, now, last) != last)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }

        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }

    /// <summary>One throttle per kind, e.g. per error or status class.</summary>
    public static LogThrottle[] Many(int count, TimeProvider time, TimeSpan interval) =>
        Enumerable.Range(0, count).Select(_ => new LogThrottle(time, interval)).ToArray();
}
