using CsCheck;
using Google.Protobuf;

namespace FastProxy.Protocol.Tests;

/// <summary>Generated requests: encode, compress, summarise, convert — the counts must survive.</summary>
public sealed class RoundTripPropertyTests
{
    // A small alphabet so that names repeat across series and distinct-name counting matters.
    private static readonly Gen<string> Text = Gen.Char["ab_\u00e9"].Array[0, 4].Select(chars => new string(chars));
    private static readonly Gen<string> LabelName = Gen.OneOf(Gen.Const("__name__"), Gen.Const("job"), Gen.Const("le"), Text);
    private static readonly Gen<long> Timestamp = Gen.OneOf(Gen.Long[-5_000, 5_000], Gen.Long[1_700_000_000_000, 1_800_000_000_000], Gen.Long);

    private static readonly Gen<V1.Label> V1Label = Gen.Select(LabelName, Text, (name, value) => new V1.Label { Name = name, Value = value });

    private static readonly Gen<V1.Sample> V1Sample = Gen.Select(Gen.Double, Timestamp, (value, timestamp) => new V1.Sample { Value = value, Timestamp = timestamp });

    private static readonly Gen<V1.Histogram> V1Histogram =
        Gen.Select(Gen.Bool, Gen.ULong[0, 1000], Gen.Double, Gen.Int[-53, 8], Gen.Long[-3, 3].Array[0, 4], Gen.Double.Array[0, 3], Timestamp)
            .Select((integer, count, sum, schema, deltas, customValues, timestamp) =>
            {
                var histogram = new V1.Histogram { Sum = sum, Schema = schema, Timestamp = timestamp };
                if (integer)
                {
                    histogram.CountInt = count;
                    histogram.PositiveDeltas.AddRange(deltas);
                }
                else
                {
                    histogram.CountFloat = count;
                    histogram.PositiveCounts.AddRange(deltas.Select(delta => (double)delta));
                }

                histogram.PositiveSpans.Add(new V1.BucketSpan { Offset = schema, Length = (uint)deltas.Length });
                histogram.CustomValues.AddRange(customValues);
                return histogram;
            });

    private static readonly Gen<V1.Exemplar> V1Exemplar = Gen.Select(V1Label.Array[0, 2], Gen.Double, Timestamp, (labels, value, timestamp) =>
    {
        var exemplar = new V1.Exemplar { Value = value, Timestamp = timestamp };
        exemplar.Labels.AddRange(labels);
        return exemplar;
    });

    private static readonly Gen<V1.TimeSeries> V1Series =
        Gen.Select(V1Label.Array[0, 5], V1Sample.Array[0, 3], V1Histogram.Array[0, 2], V1Exemplar.Array[0, 2], (labels, samples, histograms, exemplars) =>
        {
            var series = new V1.TimeSeries();
            series.Labels.AddRange(labels);
            series.Samples.AddRange(samples);
            series.Histograms.AddRange(histograms);
            series.Exemplars.AddRange(exemplars);
            return series;
        });

    private static readonly Gen<V1.MetricMetadata> V1Metadata = Gen.Select(Gen.Int[0, 7], Text, Text, Text, (type, family, help, unit) => new V1.MetricMetadata
    {
        Type = (V1.MetricMetadata.Types.MetricType)type,
        MetricFamilyName = family,
        Help = help,
        Unit = unit,
    });

    private static readonly Gen<V1.WriteRequest> V1Request = Gen.Select(V1Series.Array[0, 12], V1Metadata.Array[0, 3], (series, metadata) =>
    {
        var request = new V1.WriteRequest();
        request.Timeseries.AddRange(series);
        request.Metadata.AddRange(metadata);
        return request;
    });

    /// <summary>A 2.0 series before symbolisation: plain strings, so expectations read naturally.</summary>
    public sealed record V2Model(
        (string Name, string Value)[] Labels,
        V2.Sample[] Samples,
        V1.Histogram[] Histograms,
        (string Name, string Value)[][] ExemplarLabels,
        (int Type, string Help, string Unit)? Metadata);

    private static readonly Gen<(string, string)> LabelPair = Gen.Select(LabelName, Text);

    private static readonly Gen<V2.Sample> V2Sample = Gen.Select(Gen.Double, Timestamp, Timestamp, (value, timestamp, start) =>
        new V2.Sample { Value = value, Timestamp = timestamp, StartTimestamp = start });

    private static readonly Gen<V2Model> V2SeriesModel = Gen.Select(
        LabelPair.Array[0, 5],
        V2Sample.Array[0, 3],
        V1Histogram.Array[0, 2],
        LabelPair.Array[0, 2].Array[0, 2],
        Gen.Select(Gen.Int[0, 7], Text, Text).Select(metadata => ((int, string, string)?)metadata).Array[0, 1],
        (labels, samples, histograms, exemplars, metadata) =>
            new V2Model(labels, samples, histograms, exemplars, metadata.Length == 0 ? null : metadata[0]));

    [Fact]
    public void V1Request_EncodedAndCompressed_SummaryMatchesModel()
    {
        V1Request.Sample(request =>
        {
            var body = SnappyBlockCodec.Compress(request.ToByteArray());

            var summary = PayloadSummaryReader.Summarize(body, new PayloadSummaryOptions { Version = RemoteWriteVersion.V1 });

            AssertSummaryMatches(request, summary);
            Assert.Equal(request.Metadata.Count, summary.MetadataEntries);
            Assert.Equal(request, RemoteWriteMessages.ParseV1(SnappyBlockCodec.Decompress(body)));
        });
    }

    [Fact]
    public void V1Request_RawProtobuf_SummaryMatchesCompressedSummary()
    {
        V1Request.Sample(request =>
        {
            var message = request.ToByteArray();

            var raw = PayloadSummaryReader.SummarizeProtobuf(message, RemoteWriteVersion.V1);
            var compressed = PayloadSummaryReader.SummarizeSnappy(SnappyBlockCodec.Compress(message), RemoteWriteVersion.V1);

            Assert.Equal(PayloadCompression.None, raw.Compression);
            Assert.Equal(PayloadCompression.Snappy, compressed.Compression);
            Assert.Equal(raw.UncompressedBytes, compressed.UncompressedBytes);
            Assert.Equal(
                (raw.Series, raw.Samples, raw.Histograms, raw.Exemplars, raw.MetadataEntries, raw.DistinctMetricNames),
                (compressed.Series, compressed.Samples, compressed.Histograms, compressed.Exemplars, compressed.MetadataEntries, compressed.DistinctMetricNames));
            Assert.Equal(
                (raw.MinLabelsPerSeries, raw.MaxLabelsPerSeries, raw.MeanLabelsPerSeries, raw.MinTimestampMs, raw.MaxTimestampMs),
                (compressed.MinLabelsPerSeries, compressed.MaxLabelsPerSeries, compressed.MeanLabelsPerSeries, compressed.MinTimestampMs, compressed.MaxTimestampMs));
            Assert.Equal(raw.TopMetricNames, compressed.TopMetricNames);
        });
    }

    [Fact]
    public void V2Request_EncodedAndCompressed_SummaryMatchesModel()
    {
        V2SeriesModel.Array[0, 12].Sample(models =>
        {
            var request = Symbolise(models);
            var body = SnappyBlockCodec.Compress(request.ToByteArray());

            var summary = PayloadSummaryReader.Summarize(body, new PayloadSummaryOptions { Version = RemoteWriteVersion.V2 });

            Assert.Equal(RemoteWriteVersion.V2, summary.Version);
            Assert.Equal(models.Length, summary.Series);
            Assert.Equal(models.Sum(model => model.Samples.Length), summary.Samples);
            Assert.Equal(models.Sum(model => model.Histograms.Length), summary.Histograms);
            Assert.Equal(models.Sum(model => model.ExemplarLabels.Length), summary.Exemplars);
            Assert.Equal(
                models.Count(model => model.Metadata is { } m && (m.Type != 0 || m.Help.Length > 0 || m.Unit.Length > 0)),
                summary.MetadataEntries);
            AssertNamesAndTimes(
                models.Select(model => model.Labels.Select(label => (label.Name, label.Value)).ToArray()).ToArray(),
                models.SelectMany(model => model.Samples.Select(sample => sample.Timestamp).Concat(model.Histograms.Select(h => h.Timestamp))),
                summary);
        });
    }

    [Fact]
    public void V2Request_ConvertedToV1_PreservesEveryLabelSetAndSample()
    {
        V2SeriesModel.Array[0, 12].Sample(models =>
        {
            var request = Symbolise(models);

            var conversion = RemoteWriteConverter.ConvertV2ToV1(request.ToByteArray());

            var kept = models.Where(model => model.Samples.Length + model.Histograms.Length + model.ExemplarLabels.Length > 0).ToArray();
            var series = conversion.Request.Timeseries;
            Assert.Equal(kept.Length, series.Count);
            for (var i = 0; i < kept.Length; i++)
            {
                Assert.Equal(kept[i].Labels, series[i].Labels.Select(label => (label.Name, label.Value)));
                Assert.Equal(
                    kept[i].Samples.Select(sample => (BitConverter.DoubleToInt64Bits(sample.Value), sample.Timestamp)),
                    series[i].Samples.Select(sample => (BitConverter.DoubleToInt64Bits(sample.Value), sample.Timestamp)));
                Assert.Equal(kept[i].Histograms, series[i].Histograms);
                Assert.Equal(
                    kept[i].ExemplarLabels.Select(labels => labels.Select(label => $"{label.Name}={label.Value}")),
                    series[i].Exemplars.Select(exemplar => exemplar.Labels.Select(label => $"{label.Name}={label.Value}")));
            }

            Assert.Equal(
                new RemoteWriteCounts(
                    kept.Sum(model => model.Samples.Length),
                    kept.Sum(model => model.Histograms.Length),
                    kept.Sum(model => model.ExemplarLabels.Length)),
                conversion.Written);

            var v1Summary = PayloadSummaryReader.SummarizeProtobuf(conversion.Request.ToByteArray());
            Assert.Equal(conversion.Written.Samples, v1Summary.Samples);
            Assert.Equal(conversion.Request.Metadata.Count, v1Summary.MetadataEntries);
        });
    }

    [Fact]
    public void RandomBytes_OnlyEverFailWithFormatError()
    {
        Gen.Byte.Array[0, 300].Sample(data =>
        {
            foreach (var compression in new[] { PayloadCompression.Auto, PayloadCompression.None, PayloadCompression.Snappy })
            {
                try
                {
                    PayloadSummaryReader.Summarize(data, new PayloadSummaryOptions { Compression = compression });
                }
                catch (RemoteWriteFormatException)
                {
                }
            }
        }, iter: 2000);
    }

    private static V2.Request Symbolise(V2Model[] models)
    {
        var symbols = new TestMessages.SymbolTable();
        var request = new V2.Request();
        foreach (var model in models)
        {
            var series = new V2.TimeSeries();
            foreach (var (name, value) in model.Labels)
            {
                series.LabelsRefs.Add(symbols[name]);
                series.LabelsRefs.Add(symbols[value]);
            }

            series.Samples.AddRange(model.Samples);
            foreach (var histogram in model.Histograms)
            {
                series.Histograms.Add(V2.Histogram.Parser.ParseFrom(histogram.ToByteArray()));
            }

            foreach (var labels in model.ExemplarLabels)
            {
                var exemplar = new V2.Exemplar { Value = 1, Timestamp = 2 };
                foreach (var (name, value) in labels)
                {
                    exemplar.LabelsRefs.Add(symbols[name]);
                    exemplar.LabelsRefs.Add(symbols[value]);
                }

                series.Exemplars.Add(exemplar);
            }

            if (model.Metadata is { } metadata)
            {
                series.Metadata = TestMessages.Metadata(symbols, (V2.Metadata.Types.MetricType)metadata.Type, metadata.Help, metadata.Unit);
            }

            request.Timeseries.Add(series);
        }

        request.Symbols.AddRange(symbols.Strings);
        return request;
    }

    private static void AssertSummaryMatches(V1.WriteRequest request, PayloadSummary summary)
    {
        Assert.Equal(request.Timeseries.Count, summary.Series);
        Assert.Equal(request.Timeseries.Sum(series => series.Samples.Count), summary.Samples);
        Assert.Equal(request.Timeseries.Sum(series => series.Histograms.Count), summary.Histograms);
        Assert.Equal(request.Timeseries.Sum(series => series.Exemplars.Count), summary.Exemplars);
        Assert.Equal(request.CalculateSize(), summary.UncompressedBytes);
        AssertNamesAndTimes(
            request.Timeseries.Select(series => series.Labels.Select(label => (label.Name, label.Value)).ToArray()).ToArray(),
            request.Timeseries.SelectMany(series => series.Samples.Select(s => s.Timestamp).Concat(series.Histograms.Select(h => h.Timestamp))),
            summary);
    }

    private static void AssertNamesAndTimes((string Name, string Value)[][] labelSets, IEnumerable<long> timestamps, PayloadSummary summary)
    {
        var names = labelSets
            .Select(labels => labels.Where(label => label.Name == "__name__").Select(label => label.Value).FirstOrDefault())
            .Where(name => name is not null)
            .GroupBy(name => name, StringComparer.Ordinal)
            .Select(group => new MetricNameCount(group.Key!, group.Count()))
            .OrderByDescending(count => count.Series)
            .ThenBy(count => count.Name, StringComparer.Ordinal)
            .ToArray();
        Assert.Equal(names.Length, summary.DistinctMetricNames);
        Assert.Equal(names.Take(10), summary.TopMetricNames);

        var times = timestamps.ToArray();
        Assert.Equal(times.Length == 0 ? null : times.Min(), summary.MinTimestampMs);
        Assert.Equal(times.Length == 0 ? null : times.Max(), summary.MaxTimestampMs);

        if (labelSets.Length > 0)
        {
            Assert.Equal(labelSets.Min(labels => labels.Length), summary.MinLabelsPerSeries);
            Assert.Equal(labelSets.Max(labels => labels.Length), summary.MaxLabelsPerSeries);
            Assert.Equal(labelSets.Average(labels => labels.Length), summary.MeanLabelsPerSeries, 10);
        }
    }
}
