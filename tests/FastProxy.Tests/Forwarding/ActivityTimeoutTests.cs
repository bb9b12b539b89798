using FastProxy.Forwarding;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Forwarding;

public sealed class ActivityTimeoutTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void FinishedRequest_ItsInstanceIsReused_WithAQuietToken()
    {
        var pool = new ActivityTimeoutPool(Timeout, new FakeTimeProvider());

        var first = pool.Rent(CancellationToken.None);
        pool.Return(first);
        var second = pool.Rent(CancellationToken.None);

        Assert.Same(first, second);
        Assert.False(second.Token.IsCancellationRequested);
        Assert.False(second.TimedOut);
    }

    [Fact]
    public void ReusedInstance_StillTimesOutOnSilence_AndProgressDefersIt()
    {
        var time = new FakeTimeProvider();
        var pool = new ActivityTimeoutPool(Timeout, time);
        pool.Return(pool.Rent(CancellationToken.None));
        var activity = pool.Rent(CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(40));
        activity.Touch();
        time.Advance(TimeSpan.FromSeconds(40));
        Assert.False(activity.Token.IsCancellationRequested);

        time.Advance(TimeSpan.FromSeconds(21));
        Assert.True(activity.Token.IsCancellationRequested);
        Assert.True(activity.TimedOut);
        Assert.False(activity.ClientAborted);
    }

    [Fact]
    public void ReturnedInstance_IsNotCancelledByItsOldTimer()
    {
        var time = new FakeTimeProvider();
        var pool = new ActivityTimeoutPool(Timeout, time);
        var activity = pool.Rent(CancellationToken.None);
        pool.Return(activity);

        time.Advance(Timeout * 3);

        var again = pool.Rent(CancellationToken.None);
        Assert.Same(activity, again);
        Assert.False(again.Token.IsCancellationRequested);
    }

    [Fact]
    public void ReusedInstance_WhoseTimerStillRuns_GetsAWholeTimeoutFromItsStart()
    {
        var time = new FakeTimeProvider();
        var pool = new ActivityTimeoutPool(Timeout, time);
        var first = pool.Rent(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(50));
        pool.Return(first);

        // Started 10 s before the timer armed for the first request falls due.
        var second = pool.Rent(CancellationToken.None);
        Assert.Same(first, second);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(second.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(49));
        Assert.False(second.Token.IsCancellationRequested);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(second.TimedOut);
    }

    [Fact]
    public void BusyInstance_LeavesItsTimerRunning_InsteadOfRearmingItPerRequest()
    {
        var time = new TimerCountingTimeProvider(new FakeTimeProvider());
        var pool = new ActivityTimeoutPool(Timeout, time);

        for (var i = 0; i < 100; i++)
        {
            var activity = pool.Rent(CancellationToken.None);
            time.Inner.Advance(TimeSpan.FromMilliseconds(10));
            pool.Return(activity);
        }

        Assert.Equal(1, time.Changes);

        // Idle past its tick, the timer stops; the next request arms it again.
        time.Inner.Advance(Timeout);
        var next = pool.Rent(CancellationToken.None);
        Assert.Equal(2, time.Changes);
        time.Inner.Advance(Timeout);
        Assert.True(next.TimedOut);
    }

    private sealed class TimerCountingTimeProvider(FakeTimeProvider inner) : TimeProvider
    {
        public FakeTimeProvider Inner { get; } = inner;

        public int Changes { get; private set; }

        public override long TimestampFrequency => Inner.TimestampFrequency;

        public override long GetTimestamp() => Inner.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => Inner.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new CountingTimer(Inner.CreateTimer(callback, state, dueTime, period), this);

        private sealed class CountingTimer(ITimer timer, TimerCountingTimeProvider owner) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                owner.Changes++;
                return timer.Change(dueTime, period);
            }

            public void Dispose() => timer.Dispose();

            public ValueTask DisposeAsync() => timer.DisposeAsync();
        }
    }

    [Fact]
    public void FiredOrAbandonedInstances_AreNeverReused()
    {
        var time = new FakeTimeProvider();
        var pool = new ActivityTimeoutPool(Timeout, time);
        using var client = new CancellationTokenSource();

        var aborted = pool.Rent(client.Token);
        client.Cancel();
        Assert.True(aborted.Token.IsCancellationRequested);
        Assert.True(aborted.ClientAborted);
        Assert.False(aborted.TimedOut);
        pool.Return(aborted);

        var timedOut = pool.Rent(CancellationToken.None);
        Assert.NotSame(aborted, timedOut);
        time.Advance(Timeout);
        Assert.True(timedOut.TimedOut);
        pool.Return(timedOut);

        // Abandoned: the forward ended while a request-body copy still held the token.
        var busy = pool.Rent(CancellationToken.None);
        Assert.NotSame(timedOut, busy);
        busy.Abandon();
        Assert.True(busy.Token.IsCancellationRequested);
        Assert.False(busy.TimedOut);
        Assert.False(busy.ClientAborted);
        pool.Return(busy);

        var fresh = pool.Rent(CancellationToken.None);
        Assert.NotSame(aborted, fresh);
        Assert.NotSame(timedOut, fresh);
        Assert.NotSame(busy, fresh);
        Assert.False(fresh.Token.IsCancellationRequested);
    }
}
