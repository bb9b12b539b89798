using FastProxy.Protocol.V1;

namespace FastProxy.Protocol.Tests.Summary;

public sealed class PayloadSummaryReaderGoldenTests
{
    [Fact]
    public void Readme_ListsEveryFixture()
    {
        foreach (var name in Fixtures.Names)
        {
            Assert.Equal(name, Fixtures.ExpectedFor(name).File);
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void RealPrometheusBody_MatchesReadmeSummary(string name)
    {
        var expected = Fixtures.ExpectedFor(name);

        var summary = PayloadSummaryReader.Summarize(Fixtures.Read(name));

        Assert.Equal(RemoteWriteVersion.V1, summary.Version);
        Assert.Equal(PayloadCompression.Snappy, summary.Compression);
        Assert.Equal(expected.CompressedBytes, summary.CompressedBytes);
        Assert.Equal(expected.UncompressedBytes, summary.UncompressedBytes);
        Assert.Equal(expected.Series, summary.Series);
        Assert.Equal(expected.Samples, summary.Samples);
        Assert.Equal(expected.Exemplars, summary.Exemplars);
        Assert.Equal(expected.Histograms, summary.Histograms);
        Assert.Equal(expected.Metadata, summary.MetadataEntries);
        Assert.Equal(expected.MetricNames, summary.DistinctMetricNames);
        Assert.Equal(expected.MinTimestampMs, summary.MinTimestampMs);
        Assert.Equal(expected.MaxTimestampMs, summary.MaxTimestampMs);
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void RealPrometheusBody_AgreesWithGeneratedParser(string name)
    {
        var message = Fixtures.ReadUncompressed(name);
        var request = WriteRequest.Parser.ParseFrom(message);

        var summary = PayloadSummaryReader.SummarizeProtobuf(message, RemoteWriteVersion.V1);

        var metricNames = request.Timeseries
            .Select(series => series.Labels.FirstOrDefault(label => label.Name == "__name__")?.Value)
            .Where(value => value is not null)
            .GroupBy(value => value, StringComparer.Ordinal)
            .Select(group => new MetricNameCount(group.Key!, group.Count()))
            .OrderByDescending(count => count.Series)
            .ThenBy(count => count.Name, StringComparer.Ordinal)
            .ToList();
        Assert.Equal(PayloadCompression.None, summary.Compression);
        Assert.Equal(request.Timeseries.Count, summary.Series);
        Assert.Equal(request.Metadata.Count, summary.MetadataEntries);
        Assert.Equal(metricNames.Count, summary.DistinctMetricNames);
        Assert.Equal(metricNames.Take(10), summary.TopMetricNames);
        if (request.Timeseries.Count > 0)
        {
            Assert.Equal(request.Timeseries.Min(series => series.Labels.Count), summary.MinLabelsPerSeries);
            Assert.Equal(request.Timeseries.Max(series => series.Labels.Count), summary.MaxLabelsPerSeries);
            Assert.Equal(request.Timeseries.Average(series => series.Labels.Count), summary.MeanLabelsPerSeries, 10);
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void RealPrometheusBody_SnappyEntryPointMatchesAutoDetection(string name)
    {
        var body = Fixtures.Read(name);

        var detected = PayloadSummaryReader.Summarize(body);
        var explicitSnappy = PayloadSummaryReader.SummarizeSnappy(body, RemoteWriteVersion.V1);

        Assert.Equivalent(detected, explicitSnappy, strict: true);
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void RealPrometheusBody_RawProtobufIsDetectedAsUncompressed(string name)
    {
        var message = Fixtures.ReadUncompressed(name);

        var summary = PayloadSummaryReader.Summarize(message);

        Assert.Equal(PayloadCompression.None, summary.Compression);
        Assert.Equal(RemoteWriteVersion.V1, summary.Version);
        Assert.Equal(Fixtures.ExpectedFor(name).Series, summary.Series);
        Assert.Equal(message.Length, summary.CompressedBytes);
        Assert.Equal(message.Length, summary.UncompressedBytes);
    }
}
