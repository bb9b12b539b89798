using System.Diagnostics.Metrics;
using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Listener;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Listener;

public sealed class AzureBodySizeWatchTests
{
    private static ProxyRoute Route(string targetHost) =>
        new(new RouteDefinition("ingest", null, TargetAddress.ParseTargetHost(targetHost, out _)!, Audience.IngestionScope),
            new TokenSource("s", Audience.IngestionScope, new ScriptedCredential(), 10, TimeProvider.System, NullLogger.Instance));

    [Fact]
    public void OverOneMegabyteToAzureMonitor_IsCountedAndLoggedOncePerInterval_NamingTheFix()
    {
        using var meter = new Meter("test-" + Guid.NewGuid());
        long counted = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => counted += value);
        listener.Start();
        var logger = new CapturingLogger();
        var time = new FakeTimeProvider();
        var watch = new AzureBodySizeWatch(meter, logger, time);
        var azure = Route("myws-abcd.eastus-1.metrics.ingest.monitor.azure.com");

        watch.Observe(azure, 1_000_000);
        watch.Observe(azure, 1_000_001);
        watch.Observe(azure, 2_000_000);
        watch.Observe(Route("http://in-cluster:9090"), 5_000_000);

        Assert.Equal(2, counted);
        var line = Assert.Single(logger.Entries);
        Assert.Equal(602, line.EventId.Id);
        Assert.Contains("max_samples_per_send", line.Message, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromMinutes(2));
        watch.Observe(azure, 3_000_000);
        Assert.Equal(2, logger.Entries.Count);
        Assert.Contains("1 similar", logger.Entries.Last().Message, StringComparison.Ordinal);
    }
}
