using FastProxy.Telemetry;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Telemetry;

public sealed class LogThrottleTests
{
    [Fact]
    public void FirstOccurrenceLogs_RepeatsWithinTheIntervalAreCounted_NextLineCarriesTheCount()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, TimeSpan.FromSeconds(10));

        Assert.True(throttle.ShouldLog(out var first));
        Assert.Equal(0, first);
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.False(throttle.ShouldLog(out _));
        }

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(throttle.ShouldLog(out var held));
        Assert.Equal(5, held);
        Assert.False(throttle.ShouldLog(out _));
    }

    [Fact]
    public void ConcurrentCallers_ExactlyOneLogs_TheOthersAreCounted()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, TimeSpan.FromSeconds(10));
        var logged = 0;

        Parallel.For(0, 1000, _ =>
        {
            if (throttle.ShouldLog(out _))
            {
                Interlocked.Increment(ref logged);
            }
        });

        Assert.Equal(1, logged);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(throttle.ShouldLog(out var held));
        Assert.Equal(999, held);
    }
}
