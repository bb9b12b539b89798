using System.Buffers;
using System.Globalization;
using FastProxy.Protocol.Wire;

namespace FastProxy.Protocol.Summary;

/// <summary>Summarises an <c>io.prometheus.write.v2.Request</c> (remote write 2.0) straight from its wire bytes.</summary>
/// <remarks>
/// Protobuf allows fields in any order, so the symbols table is located in a first pass (its
/// entries' offsets go into a pooled array) and the series are read in a second.
/// </remarks>
internal static class V2Summarizer
{
    private const string Request = "io.prometheus.write.v2.Request";
    private const string Symbols = "io.prometheus.write.v2.Request.symbols";
    private const string Timeseries = "io.prometheus.write.v2.Request.timeseries";
    private const string TimeSeries = "io.prometheus.write.v2.TimeSeries";
    private const string LabelsRefs = "io.prometheus.write.v2.TimeSeries.labels_refs";
    private const string Samples = "io.prometheus.write.v2.TimeSeries.samples";
    private const string Histograms = "io.prometheus.write.v2.TimeSeries.histograms";
    private const string Exemplars = "io.prometheus.write.v2.TimeSeries.exemplars";
    private const string MetadataField = "io.prometheus.write.v2.TimeSeries.metadata";
    private const string Metadata = "io.prometheus.write.v2.Metadata";
    private const string MetadataType = "io.prometheus.write.v2.Metadata.type";
    private const string MetadataHelp = "io.prometheus.write.v2.Metadata.help_ref";
    private const string MetadataUnit = "io.prometheus.write.v2.Metadata.unit_ref";

    private static readonly SampleFieldNames SampleNames = new(
        "io.prometheus.write.v2.Sample",
        "io.prometheus.write.v2.Sample.value",
        "io.prometheus.write.v2.Sample.timestamp",
        "io.prometheus.write.v2.Sample.start_timestamp");

    private static readonly HistogramFieldNames HistogramNames = new("io.prometheus.write.v2.Histogram", lastField: 17);

    public static void Summarize(ReadOnlySpan<byte> message, ref SummaryTally tally, MetricNameCounter names)
    {
        var symbols = ReadSymbols(message);
        var seriesIndex = -1;
        try
        {
            var reader = new ProtoWireReader(message);
            while (reader.TryReadTag(Request, out var field, out var wireType))
            {
                if (field == 5)
                {
                    reader.Expect(wireType, WireType.LengthDelimited, Timeseries);
                    seriesIndex = tally.Series;
                    var series = reader.ReadMessage(Timeseries);
                    ReadSeries(ref series, message, symbols, ref tally, names);
                    seriesIndex = -1;
                }
                else
                {
                    reader.Skip(wireType, Request);
                }
            }
        }
        catch (RemoteWriteFormatException ex) when (seriesIndex >= 0)
        {
            throw ex.InSeries(seriesIndex);
        }
        finally
        {
            symbols.Dispose();
        }
    }

    private static SymbolTable ReadSymbols(ReadOnlySpan<byte> message)
    {
        var symbols = new SymbolTable();
        try
        {
            var reader = new ProtoWireReader(message);
            while (reader.TryReadTag(Request, out var field, out var wireType))
            {
                switch (field)
                {
                    case 4:
                        reader.Expect(wireType, WireType.LengthDelimited, Symbols);
                        var symbol = reader.ReadLengthDelimited(Symbols);
                        symbols.Add(reader.Offset - symbol.Length, symbol.Length);
                        break;
                    case 1 or 3 when wireType == WireType.LengthDelimited:
                        throw new RemoteWriteFormatException(
                            RemoteWriteFormatError.WrongMessageType,
                            string.Create(
                                CultureInfo.InvariantCulture,
                                $"field {field} is prometheus.WriteRequest.{(field == 1 ? "timeseries" : "metadata")}: the body is a remote-write 1.0 request, not io.prometheus.write.v2.Request"),
                            Request,
                            reader.Offset);
                    case 5:
                        reader.Expect(wireType, WireType.LengthDelimited, Timeseries);
                        reader.ReadLengthDelimited(Timeseries);
                        break;
                    default:
                        reader.Skip(wireType, Request);
                        break;
                }
            }

            return symbols;
        }
        catch
        {
            symbols.Dispose();
            throw;
        }
    }

    private static void ReadSeries(
        ref ProtoWireReader series,
        ReadOnlySpan<byte> message,
        SymbolTable symbols,
        ref SummaryTally tally,
        MetricNameCounter names)
    {
        var refs = 0;
        var nameRef = -1;
        var metricNameRef = -1;
        var hasMetadata = false;
        while (series.TryReadTag(TimeSeries, out var field, out var wireType))
        {
            switch (field)
            {
                case 1 when wireType == WireType.Varint:
                    AddLabelRef(series.ReadVarint(LabelsRefs), series.Offset, message, symbols, ref refs, ref nameRef, ref metricNameRef);
                    break;
                case 1:
                    series.Expect(wireType, WireType.LengthDelimited, LabelsRefs);
                    var packed = series.ReadMessage(LabelsRefs);
                    while (!packed.IsAtEnd)
                    {
                        AddLabelRef(packed.ReadVarint(LabelsRefs), packed.Offset, message, symbols, ref refs, ref nameRef, ref metricNameRef);
                    }

                    break;
                case 2:
                    series.Expect(wireType, WireType.LengthDelimited, Samples);
                    var sample = series.ReadMessage(Samples);
                    tally.Samples++;
                    SharedFields.ReadSample(ref sample, SampleNames, ref tally);
                    break;
                case 3:
                    series.Expect(wireType, WireType.LengthDelimited, Histograms);
                    var histogram = series.ReadMessage(Histograms);
                    tally.Histograms++;
                    SharedFields.ReadHistogram(ref histogram, HistogramNames, ref tally);
                    break;
                case 4:
                    series.Expect(wireType, WireType.LengthDelimited, Exemplars);
                    series.ReadLengthDelimited(Exemplars);
                    tally.Exemplars++;
                    break;
                case 5:
                    series.Expect(wireType, WireType.LengthDelimited, MetadataField);
                    var metadata = series.ReadMessage(MetadataField);
                    hasMetadata |= ReadMetadata(ref metadata, symbols);
                    break;
                default:
                    series.Skip(wireType, TimeSeries);
                    break;
            }
        }

        if ((refs & 1) != 0)
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.InvalidReference,
                string.Create(CultureInfo.InvariantCulture, $"labels_refs holds {refs} entries; name/value pairs need an even count"),
                LabelsRefs,
                series.Offset);
        }

        tally.AddSeries(refs / 2);
        if (hasMetadata)
        {
            tally.Metadata++;
        }

        if (metricNameRef >= 0)
        {
            names.Add(symbols.Get(message, metricNameRef));
        }
    }

    private static void AddLabelRef(
        ulong symbol,
        int offset,
        ReadOnlySpan<byte> message,
        SymbolTable symbols,
        ref int refs,
        ref int nameRef,
        ref int metricNameRef)
    {
        var index = symbols.Check(symbol, LabelsRefs, offset);
        if ((refs & 1) == 0)
        {
            nameRef = index;
        }
        else if (metricNameRef < 0 && symbols.Get(message, nameRef).SequenceEqual(SharedFields.MetricNameLabel))
        {
            metricNameRef = index;
        }

        refs++;
    }

    private static bool ReadMetadata(ref ProtoWireReader metadata, SymbolTable symbols)
    {
        var present = false;
        while (metadata.TryReadTag(Metadata, out var field, out var wireType))
        {
            switch (field)
            {
                case 1:
                    metadata.Expect(wireType, WireType.Varint, MetadataType);
                    present |= metadata.ReadVarint(MetadataType) != 0;
                    break;
                case 3 or 4:
                    var name = field == 3 ? MetadataHelp : MetadataUnit;
                    metadata.Expect(wireType, WireType.Varint, name);
                    var offset = metadata.Offset;
                    present |= symbols.Check(metadata.ReadVarint(name), name, offset) != 0;
                    break;
                default:
                    metadata.Skip(wireType, Metadata);
                    break;
            }
        }

        return present;
    }

    /// <summary>Offsets and lengths of the symbols in the message, in pooled arrays.</summary>
    private sealed class SymbolTable : IDisposable
    {
        private int[] _starts = ArrayPool<int>.Shared.Rent(64);
        private int[] _lengths = ArrayPool<int>.Shared.Rent(64);

        public int Count { get; private set; }

        public void Add(int start, int length)
        {
            if (Count == _starts.Length)
            {
                Grow(ref _starts, Count);
                Grow(ref _lengths, Count);
            }

            _starts[Count] = start;
            _lengths[Count] = length;
            Count++;
        }

        public int Check(ulong symbol, string field, int offset)
        {
            if (symbol >= (ulong)Count)
            {
                throw new RemoteWriteFormatException(
                    RemoteWriteFormatError.InvalidReference,
                    string.Create(CultureInfo.InvariantCulture, $"symbol reference {symbol} is outside the symbols table ({Count} entries)"),
                    field,
                    offset);
            }

            return (int)symbol;
        }

        public ReadOnlySpan<byte> Get(ReadOnlySpan<byte> message, int index) => message.Slice(_starts[index], _lengths[index]);

        public void Dispose()
        {
            ArrayPool<int>.Shared.Return(_starts);
            ArrayPool<int>.Shared.Return(_lengths);
            _starts = _lengths = [];
        }

        private static void Grow(ref int[] array, int count)
        {
            var larger = ArrayPool<int>.Shared.Rent(array.Length * 2);
            array.AsSpan(0, count).CopyTo(larger);
            ArrayPool<int>.Shared.Return(array);
            array = larger;
        }
    }
}
