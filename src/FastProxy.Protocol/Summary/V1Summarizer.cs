using System.Globalization;
using FastProxy.Protocol.Wire;

namespace FastProxy.Protocol.Summary;

/// <summary>Summarises a <c>prometheus.WriteRequest</c> (remote write 1.0) straight from its wire bytes.</summary>
internal static class V1Summarizer
{
    private const string WriteRequest = "prometheus.WriteRequest";
    private const string Timeseries = "prometheus.WriteRequest.timeseries";
    private const string Metadata = "prometheus.WriteRequest.metadata";
    private const string TimeSeries = "prometheus.TimeSeries";
    private const string Labels = "prometheus.TimeSeries.labels";
    private const string Samples = "prometheus.TimeSeries.samples";
    private const string Exemplars = "prometheus.TimeSeries.exemplars";
    private const string Histograms = "prometheus.TimeSeries.histograms";
    private const string Label = "prometheus.Label";
    private const string LabelName = "prometheus.Label.name";
    private const string LabelValue = "prometheus.Label.value";

    private static readonly SampleFieldNames SampleNames =
        new("prometheus.Sample", "prometheus.Sample.value", "prometheus.Sample.timestamp", StartTimestamp: null);

    private static readonly HistogramFieldNames HistogramNames = new("prometheus.Histogram", lastField: 16);

    public static void Summarize(ReadOnlySpan<byte> message, ref SummaryTally tally, MetricNameCounter names)
    {
        var reader = new ProtoWireReader(message);
        var seriesIndex = -1;
        try
        {
            while (reader.TryReadTag(WriteRequest, out var field, out var wireType))
            {
                switch (field)
                {
                    case 1:
                        reader.Expect(wireType, WireType.LengthDelimited, Timeseries);
                        seriesIndex = tally.Series;
                        var series = reader.ReadMessage(Timeseries);
                        ReadSeries(ref series, ref tally, names);
                        seriesIndex = -1;
                        break;
                    case 3:
                        reader.Expect(wireType, WireType.LengthDelimited, Metadata);
                        reader.ReadLengthDelimited(Metadata);
                        tally.Metadata++;
                        break;
                    case 4 or 5 when wireType == WireType.LengthDelimited:
                        throw new RemoteWriteFormatException(
                            RemoteWriteFormatError.WrongMessageType,
                            string.Create(
                                CultureInfo.InvariantCulture,
                                $"field {field} is io.prometheus.write.v2.Request.{(field == 4 ? "symbols" : "timeseries")}: the body is a remote-write 2.0 request, not prometheus.WriteRequest"),
                            WriteRequest,
                            reader.Offset);
                    default:
                        reader.Skip(wireType, WriteRequest);
                        break;
                }
            }
        }
        catch (RemoteWriteFormatException ex) when (seriesIndex >= 0)
        {
            throw ex.InSeries(seriesIndex);
        }
    }

    private static void ReadSeries(ref ProtoWireReader series, ref SummaryTally tally, MetricNameCounter names)
    {
        var labels = 0;
        var hasName = false;
        ReadOnlySpan<byte> metricName = default;
        while (series.TryReadTag(TimeSeries, out var field, out var wireType))
        {
            switch (field)
            {
                case 1:
                    series.Expect(wireType, WireType.LengthDelimited, Labels);
                    var label = series.ReadMessage(Labels);
                    labels++;
                    ReadLabel(ref label, out var name, out var value);
                    if (!hasName && name.SequenceEqual(SharedFields.MetricNameLabel))
                    {
                        metricName = value;
                        hasName = true;
                    }

                    break;
                case 2:
                    series.Expect(wireType, WireType.LengthDelimited, Samples);
                    var sample = series.ReadMessage(Samples);
                    tally.Samples++;
                    SharedFields.ReadSample(ref sample, SampleNames, ref tally);
                    break;
                case 3:
                    // Counted, not decoded: a summary has no use for exemplar contents.
                    series.Expect(wireType, WireType.LengthDelimited, Exemplars);
                    series.ReadLengthDelimited(Exemplars);
                    tally.Exemplars++;
                    break;
                case 4:
                    series.Expect(wireType, WireType.LengthDelimited, Histograms);
                    var histogram = series.ReadMessage(Histograms);
                    tally.Histograms++;
                    SharedFields.ReadHistogram(ref histogram, HistogramNames, ref tally);
                    break;
                default:
                    series.Skip(wireType, TimeSeries);
                    break;
            }
        }

        tally.AddSeries(labels);
        if (hasName)
        {
            names.Add(metricName);
        }
    }

    private static void ReadLabel(scoped ref ProtoWireReader label, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        name = default;
        value = default;
        while (label.TryReadTag(Label, out var field, out var wireType))
        {
            switch (field)
            {
                case 1:
                    label.Expect(wireType, WireType.LengthDelimited, LabelName);
                    name = label.ReadLengthDelimited(LabelName);
                    break;
                case 2:
                    label.Expect(wireType, WireType.LengthDelimited, LabelValue);
                    value = label.ReadLengthDelimited(LabelValue);
                    break;
                default:
                    label.Skip(wireType, Label);
                    break;
            }
        }
    }
}
