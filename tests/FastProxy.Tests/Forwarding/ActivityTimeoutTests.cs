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
