using Google.Protobuf;

namespace FastProxy.Protocol.Tests.Summary;

public sealed class PayloadSummaryReaderTests
{
    [Fact]
    public void V1RequestWithHistogramsAndExemplars_CountsEverything()
    {
        var body = TestMessages.Snappy(TestMessages.V1Request());

        var summary = PayloadSummaryReader.Summarize(body);

        Assert.Equal(RemoteWriteVersion.V1, summary.Version);
        Assert.Equal(PayloadCompression.Snappy, summary.Compression);
        Assert.Equal(5, summary.Series);
        Assert.Equal(5, summary.Samples);
        Assert.Equal(1, summary.Histograms);
        Assert.Equal(1, summary.Exemplars);
        Assert.Equal(1, summary.MetadataEntries);
        Assert.Equal(3, summary.DistinctMetricNames);
        Assert.Equal(
            [new("http_requests_total", 2), new("latency_seconds", 1), new("up", 1)],
            summary.TopMetricNames);
        Assert.Equal(1, summary.MinLabelsPerSeries);
        Assert.Equal(3, summary.MaxLabelsPerSeries);
        Assert.Equal(11.0 / 5, summary.MeanLabelsPerSeries, 10);
        Assert.Equal(500, summary.MinTimestampMs);
        Assert.Equal(3000, summary.MaxTimestampMs);
        Assert.Equal(body.Length, summary.CompressedBytes);
    }

    [Fact]
    public void V2Request_IsDetectedAndCounted()
    {
        var request = TestMessages.V2Request();
        var body = TestMessages.Snappy(request);

        var summary = PayloadSummaryReader.Summarize(body);

        Assert.Equal(RemoteWriteVersion.V2, summary.Version);
        Assert.Equal(5, summary.Series);
        Assert.Equal(4, summary.Samples);
        Assert.Equal(1, summary.Histograms);
        Assert.Equal(1, summary.Exemplars);
        Assert.Equal(5, summary.MetadataEntries);
        Assert.Equal(4, summary.DistinctMetricNames);
        Assert.Equal(new MetricNameCount("http_requests_total", 2), summary.TopMetricNames[0]);
        Assert.Equal(1, summary.MinLabelsPerSeries);
        Assert.Equal(2, summary.MaxLabelsPerSeries);
        Assert.Equal(1900, summary.MinTimestampMs);
        Assert.Equal(2500, summary.MaxTimestampMs);
        Assert.Equal(request.CalculateSize(), summary.UncompressedBytes);
    }

    [Fact]
    public void V2SeriesWithEmptyMetadata_IsNotAMetadataEntry()
    {
        var symbols = new TestMessages.SymbolTable();
        var series = TestMessages.V2Series(symbols, ["__name__", "up"]);
        series.Metadata = new V2.Metadata();
        series.Samples.Add(new V2.Sample { Value = 1, Timestamp = 5 });
        var request = new V2.Request { Symbols = { symbols.Strings }, Timeseries = { series } };

        var summary = PayloadSummaryReader.SummarizeProtobuf(request.ToByteArray(), RemoteWriteVersion.V2);

        Assert.Equal(0, summary.MetadataEntries);
    }

    [Fact]
    public void V2LabelRefsUnpacked_AreReadLikePacked()
    {
        // Protobuf parsers must accept repeated scalars both packed and one per tag.
        var series = new RawProto()
            .VarintField(1, 1).VarintField(1, 2)
            .Message(2, RawProto.Sample(1, 42));
        var body = new RawProto()
            .String(4, "").String(4, "__name__").String(4, "up")
            .Message(5, series)
            .ToArray();

        var summary = PayloadSummaryReader.SummarizeProtobuf(body);

        Assert.Equal(RemoteWriteVersion.V2, summary.Version);
        Assert.Equal([new MetricNameCount("up", 1)], summary.TopMetricNames);
        Assert.Equal(1, summary.MaxLabelsPerSeries);
    }

    [Fact]
    public void V2SymbolsAfterSeries_AreStillResolved()
    {
        // Field order on the wire is the sender's choice.
        var series = new RawProto().Bytes(1, [1, 2]).Message(2, RawProto.Sample(1, 42));
        var body = new RawProto()
            .Message(5, series)
            .String(4, "").String(4, "__name__").String(4, "late")
            .ToArray();

        var summary = PayloadSummaryReader.SummarizeProtobuf(body);

        Assert.Equal([new MetricNameCount("late", 1)], summary.TopMetricNames);
    }

    [Fact]
    public void EmptyBody_IsAnEmptyV1Request()
    {
        var summary = PayloadSummaryReader.Summarize([]);

        Assert.Equal(RemoteWriteVersion.V1, summary.Version);
        Assert.Equal(PayloadCompression.None, summary.Compression);
        Assert.Equal(0, summary.Series);
        Assert.Null(summary.MinTimestampMs);
        Assert.Null(summary.MaxTimestampMs);
        Assert.Equal(0, summary.MeanLabelsPerSeries);
        Assert.Empty(summary.TopMetricNames);
    }

    [Fact]
    public void SampleWithoutTimestampField_CountsAsTimestampZero()
    {
        // proto3 leaves a zero timestamp off the wire; it is still a timestamp.
        var series = new RawProto().Message(1, RawProto.Label("__name__", "x")).Message(2, new RawProto().Fixed64Field(1, 1));
        var body = new RawProto().Message(1, series).ToArray();

        var summary = PayloadSummaryReader.SummarizeProtobuf(body);

        Assert.Equal(0, summary.MinTimestampMs);
        Assert.Equal(0, summary.MaxTimestampMs);
    }

    [Fact]
    public void TopMetricNames_AreLimitedAndOrderedByCountThenName()
    {
        var request = new V1.WriteRequest();
        foreach (var name in new[] { "b", "a", "c", "c", "b", "d", "c" })
        {
            request.Timeseries.Add(TestMessages.V1Series(["__name__", name], (1, 1)));
        }

        var summary = PayloadSummaryReader.Summarize(request.ToByteArray(), new PayloadSummaryOptions { TopMetricNames = 3 });

        Assert.Equal(4, summary.DistinctMetricNames);
        Assert.Equal([new("c", 3), new("b", 2), new("a", 1)], summary.TopMetricNames);
    }

    [Fact]
    public void RepeatedSummaries_DoNotCarryCountsOver()
    {
        var body = Fixtures.Read("batch-12826.snappy");
        var first = PayloadSummaryReader.Summarize(body);

        PayloadSummaryReader.Summarize(TestMessages.Snappy(TestMessages.V1Request()));
        var again = PayloadSummaryReader.Summarize(body);

        Assert.Equivalent(first, again, strict: true);
    }

    [Fact]
    public void SummaryOfSeenBody_AllocatesOnlyTheResult()
    {
        var body = Fixtures.Read("batch-48495.snappy");
        PayloadSummaryReader.Summarize(body);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var summary = PayloadSummaryReader.Summarize(body);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // 320 KB of protobuf, 2000 series: the summary, its top-ten list and the pooled-buffer
        // owner are all that should remain (names are cached, the buffer is pooled).
        Assert.Equal(2000, summary.Series);
        Assert.True(allocated < 4096, $"allocated {allocated} bytes");
    }

    [Fact]
    public void V2BodyForcedToV1_FailsAsWrongMessageType()
    {
        var message = TestMessages.V2Request().ToByteArray();

        var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.SummarizeProtobuf(message, RemoteWriteVersion.V1));

        Assert.Equal(RemoteWriteFormatError.WrongMessageType, error.Error);
        Assert.Contains("remote-write 2.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void V1BodyForcedToV2_FailsAsWrongMessageType()
    {
        var message = TestMessages.V1Request().ToByteArray();

        var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.SummarizeProtobuf(message, RemoteWriteVersion.V2));

        Assert.Equal(RemoteWriteFormatError.WrongMessageType, error.Error);
        Assert.Contains("remote-write 1.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessageMixingBothVersions_FailsDetection()
    {
        var message = new RawProto().Message(1, new RawProto()).String(4, "").ToArray();

        var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.DetectVersion(message));

        Assert.Equal(RemoteWriteFormatError.WrongMessageType, error.Error);
    }

    [Theory]
    [InlineData(RemoteWriteVersion.V1)]
    [InlineData(RemoteWriteVersion.V2)]
    public void DetectVersion_RecognisesEachVersion(RemoteWriteVersion version)
    {
        IMessage message = version == RemoteWriteVersion.V1 ? TestMessages.V1Request() : TestMessages.V2Request();

        Assert.Equal(version, PayloadSummaryReader.DetectVersion(message.ToByteArray()));
    }

    [Fact]
    public void SmallRawMessageThatLooksLikeSnappy_FallsBackToProtobuf()
    {
        // 0x0A 0x14: field 1, 20 bytes — also a snappy preamble of 10 and a 6-byte literal tag.
        var series = new RawProto().Message(1, RawProto.Label("__name__", "abcdef"));
        var message = new RawProto().Message(1, series).ToArray();
        Assert.True(SnappyBlockCodec.LooksLikeBlock(message));

        var summary = PayloadSummaryReader.Summarize(message);

        Assert.Equal(PayloadCompression.None, summary.Compression);
        Assert.Equal([new MetricNameCount("abcdef", 1)], summary.TopMetricNames);
    }

    [Fact]
    public void NegativeOptions_AreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PayloadSummaryReader.Summarize([], new PayloadSummaryOptions { TopMetricNames = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => PayloadSummaryReader.Summarize([], new PayloadSummaryOptions { MaxDecompressedBytes = -1 }));
    }
}
