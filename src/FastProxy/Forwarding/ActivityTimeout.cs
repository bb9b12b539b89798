namespace FastProxy.Forwarding;

/// <summary>
/// One cancellation source per proxied request that fires when the client goes away or when
/// nothing has moved for the configured time. Resetting on progress makes the timeout measure
/// silence, not total duration, so a 1 GiB body that keeps flowing is never cut off; and it can
/// tell "client left" from "target timed out", which map to different answers.
/// </summary>
/// <remarks>
/// <see cref="Touch"/> runs once per body chunk in both directions, so it only stores a timestamp.
/// The earlier version called <c>CancelAfter</c> there, which re-arms a timer under the runtime's
/// timer-queue lock on every chunk (measured: see perf-baselines/CHANGES.md). Now the timer is
/// armed once; when it fires it compares the silence with the timeout and either cancels or
/// re-arms itself for the remainder.
/// </remarks>
internal sealed class ActivityTimeout : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly CancellationToken _clientAborted;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly CancellationTokenRegistration _clientRegistration;

    // Written by the request's own reads and writes, read by the timer callback; a torn or stale
    // read only delays the decision to the next timer tick.
    private long _lastActivity;

    public ActivityTimeout(TimeSpan timeout, TimeProvider time, CancellationToken clientAborted)
    {
        _clientAborted = clientAborted;
        _timeout = timeout;
        _time = time;
        _lastActivity = time.GetTimestamp();
        _clientRegistration = clientAborted.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _source);
        _timer = time.CreateTimer(static state => ((ActivityTimeout)state!).OnTimer(), this, timeout, Timeout.InfiniteTimeSpan);
    }

    public CancellationToken Token => _source.Token;

    public bool ClientAborted => _clientAborted.IsCancellationRequested;

    /// <summary>True when the source fired because of silence rather than the client.</summary>
    public bool TimedOut => _source.IsCancellationRequested && !_clientAborted.IsCancellationRequested;

    /// <summary>Records progress: the silence timer starts again.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    private void OnTimer()
    {
        var silence = _time.GetElapsedTime(Volatile.Read(ref _lastActivity));
        if (silence >= _timeout)
        {
            try
            {
                _source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The request finished while the timer fired.
            }

            return;
        }

        try
        {
            _timer.Change(_timeout - silence, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _clientRegistration.Dispose();
        _source.Dispose();
    }
}
