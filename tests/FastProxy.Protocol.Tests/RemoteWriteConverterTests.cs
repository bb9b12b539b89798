using Google.Protobuf;

namespace FastProxy.Protocol.Tests;

public sealed class RemoteWriteConverterTests
{
    [Fact]
    public void V2Request_BecomesV1WithResolvedLabelsAndCounts()
    {
        var conversion = RemoteWriteConverter.ConvertV2ToV1(TestMessages.V2Request());
        var series = conversion.Request.Timeseries;

        // The metadata-only build_info series has nothing left to say in 1.0.
        Assert.Equal(4, series.Count);
        Assert.Equal(
            ["__name__=http_requests_total", "code=200"],
            series[0].Labels.Select(label => $"{label.Name}={label.Value}"));
        Assert.Equal(new V1.Sample { Value = 10, Timestamp = 2000 }, series[0].Samples.Single());
        Assert.Equal(2, series[1].Samples.Count);
        Assert.Equal(new RemoteWriteCounts(Samples: 4, Histograms: 1, Exemplars: 1), conversion.Written);
    }

    [Fact]
    public void Exemplars_KeepTheirLabelsValueAndTimestamp()
    {
        var exemplar = RemoteWriteConverter.ConvertV2ToV1(TestMessages.V2Request()).Request.Timeseries[0].Exemplars.Single();

        Assert.Equal(new V1.Label { Name = "trace_id", Value = "t1" }, exemplar.Labels.Single());
        Assert.Equal(1, exemplar.Value);
        Assert.Equal(1999, exemplar.Timestamp);
    }

    [Fact]
    public void NativeHistogram_IsCopiedFieldByField()
    {
        var source = TestMessages.V2Request().Timeseries[3].Histograms.Single();

        var histogram = RemoteWriteConverter.ConvertV2ToV1(TestMessages.V2Request()).Request.Timeseries[3].Histograms.Single();

        Assert.Equal(V1.Histogram.CountOneofCase.CountFloat, histogram.CountCase);
        Assert.Equal(source.CountFloat, histogram.CountFloat);
        Assert.Equal(V1.Histogram.ZeroCountOneofCase.ZeroCountFloat, histogram.ZeroCountCase);
        Assert.Equal(source.ZeroCountFloat, histogram.ZeroCountFloat);
        Assert.Equal(source.Sum, histogram.Sum);
        Assert.Equal(source.Schema, histogram.Schema);
        Assert.Equal(source.PositiveCounts, histogram.PositiveCounts);
        Assert.Equal(source.CustomValues, histogram.CustomValues);
        Assert.Equal(V1.Histogram.Types.ResetHint.Gauge, histogram.ResetHint);
        Assert.Equal(source.Timestamp, histogram.Timestamp);
        Assert.Equal(new V1.BucketSpan { Offset = 0, Length = 2 }, histogram.PositiveSpans.Single());
    }

    [Fact]
    public void IntegerHistogram_KeepsIntegerCountsAndDeltas()
    {
        var symbols = new TestMessages.SymbolTable();
        var series = TestMessages.V2Series(symbols, ["__name__", "h"]);
        series.Histograms.Add(new V2.Histogram
        {
            CountInt = 9,
            ZeroCountInt = 2,
            NegativeSpans = { new V2.BucketSpan { Offset = -3, Length = 1 } },
            NegativeDeltas = { -4 },
            PositiveDeltas = { 1, -1 },
            Timestamp = 7,
        });
        var request = new V2.Request { Symbols = { symbols.Strings }, Timeseries = { series } };

        var histogram = RemoteWriteConverter.ConvertV2ToV1(request).Request.Timeseries.Single().Histograms.Single();

        Assert.Equal(9ul, histogram.CountInt);
        Assert.Equal(2ul, histogram.ZeroCountInt);
        Assert.Equal([-4L], histogram.NegativeDeltas);
        Assert.Equal([1L, -1L], histogram.PositiveDeltas);
        Assert.Equal(-3, histogram.NegativeSpans.Single().Offset);
    }

    [Fact]
    public void Metadata_MovesToOneEntryPerFamily()
    {
        var metadata = RemoteWriteConverter.ConvertV2ToV1(TestMessages.V2Request()).Request.Metadata
            .ToDictionary(entry => entry.MetricFamilyName, StringComparer.Ordinal);

        Assert.Equal(["http_requests_total", "rpc_seconds", "native_seconds", "build_info"], metadata.Keys);
        Assert.Equal(V1.MetricMetadata.Types.MetricType.Counter, metadata["http_requests_total"].Type);
        Assert.Equal("Requests served.", metadata["http_requests_total"].Help);
        Assert.Equal(V1.MetricMetadata.Types.MetricType.Histogram, metadata["rpc_seconds"].Type);
        Assert.Equal("seconds", metadata["rpc_seconds"].Unit);
        Assert.Equal(V1.MetricMetadata.Types.MetricType.Gaugehistogram, metadata["native_seconds"].Type);
        Assert.Equal(V1.MetricMetadata.Types.MetricType.Info, metadata["build_info"].Type);
    }

    [Theory]
    [InlineData(V2.Metadata.Types.MetricType.Histogram, "rpc_seconds_bucket", "rpc_seconds")]
    [InlineData(V2.Metadata.Types.MetricType.Histogram, "rpc_seconds_count", "rpc_seconds")]
    [InlineData(V2.Metadata.Types.MetricType.Histogram, "rpc_seconds", "rpc_seconds")]
    [InlineData(V2.Metadata.Types.MetricType.Summary, "gc_seconds_sum", "gc_seconds")]
    [InlineData(V2.Metadata.Types.MetricType.Summary, "gc_seconds_bucket", "gc_seconds_bucket")]
    [InlineData(V2.Metadata.Types.MetricType.Gaugehistogram, "queue_gsum", "queue")]
    [InlineData(V2.Metadata.Types.MetricType.Counter, "requests_count", "requests_count")]
    [InlineData(V2.Metadata.Types.MetricType.Histogram, "_bucket", "_bucket")]
    public void FamilyName_StripsOnlyTheTypesOwnSuffixes(V2.Metadata.Types.MetricType type, string seriesName, string family)
    {
        var symbols = new TestMessages.SymbolTable();
        var series = TestMessages.V2Series(symbols, ["__name__", seriesName]);
        series.Samples.Add(new V2.Sample { Value = 1, Timestamp = 1 });
        series.Metadata = TestMessages.Metadata(symbols, type, "help", "");
        var request = new V2.Request { Symbols = { symbols.Strings }, Timeseries = { series } };

        var metadata = RemoteWriteConverter.ConvertV2ToV1(request).Request.Metadata.Single();

        Assert.Equal(family, metadata.MetricFamilyName);
    }

    [Fact]
    public void EmptyMetadata_IsNotEmitted()
    {
        var symbols = new TestMessages.SymbolTable();
        var series = TestMessages.V2Series(symbols, ["__name__", "up"]);
        series.Samples.Add(new V2.Sample { Value = 1, Timestamp = 1 });
        series.Metadata = new V2.Metadata();
        var request = new V2.Request { Symbols = { symbols.Strings }, Timeseries = { series } };

        Assert.Empty(RemoteWriteConverter.ConvertV2ToV1(request).Request.Metadata);
    }

    [Theory]
    [InlineData(new uint[] { 1, 9 }, "outside the symbols table")]
    [InlineData(new uint[] { 1 }, "even count")]
    public void BadLabelReferences_FailAsInvalidReference(uint[] refs, string detail)
    {
        var request = new V2.Request { Symbols = { "", "__name__" }, Timeseries = { new V2.TimeSeries { LabelsRefs = { refs } } } };

        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteConverter.ConvertV2ToV1(request));

        Assert.Equal(RemoteWriteFormatError.InvalidReference, error.Error);
        Assert.Contains(detail, error.Message, StringComparison.Ordinal);
        Assert.Contains("labels_refs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadExemplarReference_FailsAsInvalidReference()
    {
        var request = new V2.Request
        {
            Symbols = { "" },
            Timeseries = { new V2.TimeSeries { Exemplars = { new V2.Exemplar { LabelsRefs = { 0, 3 } } } } },
        };

        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteConverter.ConvertV2ToV1(request));

        Assert.Contains("io.prometheus.write.v2.Exemplar.labels_refs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SharedSymbolMultipliedByReferences_FailsBeforeExpanding()
    {
        // 64 KB of label value referenced by 1000 series: 64 KB of 2.0, 64 MB of 1.0.
        var request = new V2.Request { Symbols = { "", "__name__", new string('x', 64 * 1024) } };
        for (var i = 0; i < 1000; i++)
        {
            request.Timeseries.Add(new V2.TimeSeries { LabelsRefs = { 1, 2 }, Samples = { new V2.Sample { Value = i, Timestamp = i } } });
        }

        var body = SnappyBlockCodec.Compress(request.ToByteArray());

        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteConverter.ConvertV2SnappyToV1Snappy(body, out _));
        Assert.Equal(RemoteWriteFormatError.TranslationTooLarge, error.Error);
        Assert.Contains("33554432-byte limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TranslationLimit_IsTheCallersChoice()
    {
        var request = TestMessages.V2Request();
        var size = RemoteWriteConverter.ConvertV2ToV1(request).Request.CalculateSize();

        Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteConverter.ConvertV2ToV1(request, maxV1Bytes: size / 2));
        Assert.Equal(size, RemoteWriteConverter.ConvertV2ToV1(request, maxV1Bytes: size * 4).Request.CalculateSize());
    }

    [Fact]
    public void SnappyToSnappy_ProducesTheSameV1Request()
    {
        var request = TestMessages.V2Request();
        var expected = RemoteWriteConverter.ConvertV2ToV1(request);

        var body = RemoteWriteConverter.ConvertV2SnappyToV1Snappy(TestMessages.Snappy(request), out var written);

        Assert.Equal(expected.Request, V1.WriteRequest.Parser.ParseFrom(SnappyBlockCodec.Decompress(body)));
        Assert.Equal(expected.Written, written);
        var summary = PayloadSummaryReader.Summarize(body);
        Assert.Equal(RemoteWriteVersion.V1, summary.Version);
        Assert.Equal(written.Samples, summary.Samples);
    }

    [Fact]
    public void V1Body_IsNotConverted()
    {
        var message = TestMessages.V1Request().ToByteArray();

        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteConverter.ConvertV2ToV1(message));

        Assert.Equal(RemoteWriteFormatError.WrongMessageType, error.Error);
    }
}
