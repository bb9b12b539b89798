using System.Buffers;
using System.Diagnostics.Metrics;
using FastProxy.Diagnostics;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Tests.Diagnostics;

public sealed class PayloadTapTests : IDisposable
{
    private readonly Meter _meter = new("FastProxy.Tests." + Guid.NewGuid());

    private PayloadTap CreateTap(int sampleEvery, int keep = 5, int maxBodyBytes = 1 << 20) =>
        new(sampleEvery, keep, maxBodyBytes, TimeProvider.System, NullLogger.Instance, _meter);

    public void Dispose() => _meter.Dispose();

    private static TapRecord? Last(PayloadTap tap) => tap.Recent is { Count: > 0 } recent ? recent[^1] : null;

    [Fact]
    public void TapOff_SamplesNothing()
    {
        var tap = CreateTap(0);

        Assert.False(tap.Enabled);
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Null(tap.TryStart(100, "r", null)));
    }

    [Fact]
    public void OneInN_IsSampled()
    {
        var tap = CreateTap(3);

        var sampled = Enumerable.Range(1, 9).Select(_ => tap.TryStart(100, "r", null)).ToList();

        Assert.Equal([false, false, true, false, false, true, false, false, true], sampled.Select(c => c is not null));
        foreach (var capture in sampled)
        {
            capture?.Dispose();
        }
    }

    [Fact]
    public void BodyAnnouncedOverTheLimit_IsNotCaptured()
    {
        var tap = CreateTap(1, maxBodyBytes: 1000);

        Assert.Null(tap.TryStart(1001, "r", null));
    }

    [Fact]
    public void CaptureInPieces_DecodesLikeTheWholeBody()
    {
        var body = Fixtures.Read("batch-49264.snappy");
        using var capture = new TapCapture(1 << 20);
        for (var offset = 0; offset < body.Length; offset += 4096)
        {
            capture.Append(new ReadOnlySequence<byte>(body, offset, Math.Min(4096, body.Length - offset)));
        }

        var record = PayloadTap.Decode(capture, "default", "application/x-protobuf", DateTimeOffset.UnixEpoch);

        Assert.Null(record.Error);
        Assert.Equal(2000, record.Summary!.Series);
        Assert.Equal(2000, record.Summary.Samples);
        Assert.Equal(body.Length, record.Summary.CompressedBytes);
        Assert.Equal(321505, record.Summary.UncompressedBytes);
    }

    [Fact]
    public void CaptureBeyondItsLimit_Overflows()
    {
        using var capture = new TapCapture(10);

        capture.Append(new ReadOnlySequence<byte>(new byte[8]));
        capture.Append(new ReadOnlySequence<byte>(new byte[8]));

        Assert.True(capture.Overflowed);
    }

    [Fact]
    public void NotRemoteWrite_IsRecordedAsSuch()
    {
        using var capture = new TapCapture(1024);
        capture.Append(new ReadOnlySequence<byte>("query=up&time=1"u8.ToArray()));

        var record = PayloadTap.Decode(capture, "default", "application/x-www-form-urlencoded", DateTimeOffset.UnixEpoch);

        Assert.Null(record.Summary);
        Assert.False(string.IsNullOrEmpty(record.Error));
    }

    [Fact]
    public async Task CompletedCaptures_AreDecodedInTheBackgroundAndTheLastNKept()
    {
        var tap = CreateTap(1, keep: 2);
        await tap.StartAsync(TestContext.Current.CancellationToken);
        var bodies = new[] { "batch-12826.snappy", "batch-9402.snappy", "batch-48495.snappy" };
        foreach (var name in bodies)
        {
            // One at a time: the decoder queue is bounded and drops when full, by design.
            var capture = tap.TryStart(null, "default", "application/x-protobuf")!;
            capture.Append(new ReadOnlySequence<byte>(Fixtures.Read(name)));
            var before = tap.Recent.Count;
            capture.Complete();
            Assert.True(SpinWait.SpinUntil(() => tap.Recent.Count != before || Last(tap)?.Summary?.Series == 2000, TimeSpan.FromSeconds(10)));
        }

        Assert.True(SpinWait.SpinUntil(() => Last(tap)?.Summary?.Series == 2000, TimeSpan.FromSeconds(10)));
        var recent = tap.Recent;
        Assert.Equal(2, recent.Count);
        Assert.Equal(202, recent[0].Summary!.MetadataEntries);
        Assert.Equal(2000, recent[1].Summary!.Series);
        Assert.Contains("2000 series, 2000 samples", TapEndpoint.RenderText(tap, recent), StringComparison.Ordinal);
        await tap.StopAsync(TestContext.Current.CancellationToken);
    }
}
