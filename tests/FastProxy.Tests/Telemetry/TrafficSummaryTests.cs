using FastProxy.Forwarding;
using FastProxy.Telemetry;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Telemetry;

public sealed class TrafficSummaryTests
{
    [Fact]
    public void EveryMinute_LogsRequestsBytesDurationsAndFailuresByKind_ThenStartsOver()
    {
        var time = new FakeTimeProvider();
        var logger = new CapturingLogger();
        using var summary = new TrafficSummary(logger, time, TimeSpan.FromMinutes(1));

        summary.RequestBytes(1000);
        summary.RequestBytes(500);
        summary.ResponseBytes(20);
        summary.RequestCompleted(TimeSpan.FromMilliseconds(10));
        summary.RequestCompleted(TimeSpan.FromMilliseconds(30));
        summary.Failed(ForwarderError.UpstreamTimeout);
        summary.Failed(ForwarderError.RequestBodyClient);
        summary.Failed(ForwarderError.ResponseBodyClient);

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(logger.Entries);

        time.Advance(TimeSpan.FromSeconds(1));
        var line = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Equal(400, line.EventId.Id);
        Assert.Equal("Last 60 s: 2 requests, 1500 bytes in, 20 bytes out, duration avg 20.0 ms max 30.0 ms, 3 failures (client_gone=2, timeout=1)", line.Message);

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, logger.Entries.Count);
        Assert.Equal("Last 60 s: 0 requests, 0 bytes in, 0 bytes out, duration avg 0.0 ms max 0.0 ms, 0 failures (none)", logger.Entries.Last().Message);
    }

    [Fact]
    public void ZeroInterval_NeverLogs()
    {
        var time = new FakeTimeProvider();
        var logger = new CapturingLogger();
        using var summary = new TrafficSummary(logger, time, TimeSpan.Zero);
        summary.RequestCompleted(TimeSpan.FromMilliseconds(1));

        time.Advance(TimeSpan.FromHours(1));

        Assert.Empty(logger.Entries);
    }
}
