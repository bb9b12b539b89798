using System.Collections.Concurrent;

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
/// timer-queue lock on every chunk (measured: see perf-baselines/CHANGES.md). When the timer
/// fires it compares the silence with the timeout and either cancels or re-arms itself for the
/// remainder.
/// Instances are pooled (<see cref="ActivityTimeoutPool"/>): the source is reset with
/// <see cref="CancellationTokenSource.TryReset"/> and the timer is kept instead of created,
/// which saves the source, the timer and their bookkeeping on every request. The timer is also
/// left running when a request ends: a tick that finds the instance idle stops it, and a request
/// that starts while it runs takes it over, because firing early only means re-arming for the
/// rest. A busy instance so touches the runtime's timer queue about once per timeout, not twice
/// per request (≈ 600 instructions of a 54,000-instruction request, round 14).
/// </remarks>
internal sealed class ActivityTimeout : IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _source = new();

    // Orders the timer's decision to cancel against the request's return to the pool, so a tick
    // that raced with the end of one request can never cancel the next one's source.
    private readonly Lock _gate = new();
    private CancellationToken _clientAborted;
    private CancellationTokenRegistration _clientRegistration;

    // Written by the request's own reads and writes, read by the timer callback; a torn or stale
    // read only delays the decision to the next timer tick.
    private long _lastActivity;

    // Written under _gate: Idle, Active while a request owns this instance, Firing once the timer
    // decided to cancel (the source then never goes back to the pool).
    private int _state;
    private const int Idle = 0, Active = 1, Firing = 2;

    // Written under _gate: true from arming the timer until a tick decides not to re-arm it. Its
    // due time is then never later than the active request's deadline.
    private bool _timerRunning;

    // Set by Abandon: the token fired because the forward was over, not because anything timed out.
    private volatile bool _abandoned;

    public ActivityTimeout(TimeSpan timeout, TimeProvider time, CancellationToken clientAborted)
        : this(timeout, time)
    {
        Start(clientAborted);
    }

    private ActivityTimeout(TimeSpan timeout, TimeProvider time)
    {
        _timeout = timeout;
        _time = time;
        _timer = time.CreateTimer(static state => ((ActivityTimeout)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    internal static ActivityTimeout CreateIdle(TimeSpan timeout, TimeProvider time) => new(timeout, time);

    public CancellationToken Token => _source.Token;

    public bool ClientAborted => _clientAborted.IsCancellationRequested;

    /// <summary>True when the source fired because of silence rather than the client.</summary>
    public bool TimedOut => _source.IsCancellationRequested && !_clientAborted.IsCancellationRequested && !_abandoned;

    /// <summary>
    /// Fires the token although nothing timed out: the forward is over and whatever still holds the
    /// token (a request-body copy the target answered before it finished) must stop. The instance
    /// is then never reused (<see cref="ActivityTimeoutPool.Return"/>).
    /// </summary>
    public void Abandon()
    {
        _abandoned = true;
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Records progress: the silence timer starts again.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    /// <summary>Arms the instance for one request.</summary>
    internal void Start(CancellationToken clientAborted)
    {
        _clientAborted = clientAborted;
        _lastActivity = _time.GetTimestamp();
        _clientRegistration = clientAborted.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _source);
        bool arm;
        lock (_gate)
        {
            _state = Active;
            arm = !_timerRunning;
            _timerRunning = true;
        }

        if (arm)
        {
            _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Disarms the instance after its request; false when it cannot be reused (its source fired),
    /// in which case the caller disposes it.
    /// </summary>
    internal bool TryReset()
    {
        bool firing;
        lock (_gate)
        {
            firing = _state == Firing;
            _state = Idle;
        }

        // The timer keeps running: its next tick finds the instance idle and stops, unless the
        // next request has taken it over by then.
        // Waits for a running client-abort callback, so the source is quiet afterwards.
        _clientRegistration.Dispose();
        _clientRegistration = default;
        _clientAborted = default;
        return !firing && _source.TryReset();
    }

    private void OnTimer()
    {
        TimeSpan silence;
        lock (_gate)
        {
            if (_state != Active)
            {
                _timerRunning = false;
                return;
            }

            silence = _time.GetElapsedTime(Volatile.Read(ref _lastActivity));
            if (silence >= _timeout)
            {
                // Decided under the lock, cancelled outside it (cancellation runs callbacks).
                _state = Firing;
                _timerRunning = false;
            }
        }

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
        lock (_gate)
        {
            _state = Idle;
        }

        _timer.Dispose();
        _clientRegistration.Dispose();
        _source.Dispose();
    }
}

/// <summary>
/// Reuses <see cref="ActivityTimeout"/> instances across requests. Bounded: beyond
/// <see cref="MaxIdle"/> idle instances a returned one is disposed, so a burst does not stay resident.
/// </summary>
internal sealed class ActivityTimeoutPool
{
    internal const int MaxIdle = 256;

    private readonly ConcurrentQueue<ActivityTimeout> _idle = new();
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private int _idleCount;

    public ActivityTimeoutPool(TimeSpan timeout, TimeProvider time)
    {
        _timeout = timeout;
        _time = time;
    }

    public ActivityTimeout Rent(CancellationToken clientAborted)
    {
        if (!_idle.TryDequeue(out var activity))
        {
            activity = ActivityTimeout.CreateIdle(_timeout, _time);
        }
        else
        {
            Interlocked.Decrement(ref _idleCount);
        }

        activity.Start(clientAborted);
        return activity;
    }

    /// <summary>
    /// Takes the instance back. One whose token fired (client gone, timed out, abandoned) is
    /// disposed, never reused: a fired source cannot be reset.
    /// </summary>
    public void Return(ActivityTimeout activity)
    {
        if (!activity.TryReset())
        {
            activity.Dispose();
            return;
        }

        if (Interlocked.Increment(ref _idleCount) > MaxIdle)
        {
            Interlocked.Decrement(ref _idleCount);
            activity.Dispose();
            return;
        }

        _idle.Enqueue(activity);
    }
}
