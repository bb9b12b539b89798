using FastProxy.Protocol.Wire;

namespace FastProxy.Protocol.Summary;

/// <summary>Readers for the messages whose shape 1.0 and 2.0 share (Sample, Histogram).</summary>
internal static class SharedFields
{
    /// <summary>The "__name__" label name, compared as bytes so no string is made per label.</summary>
    public static ReadOnlySpan<byte> MetricNameLabel => "__name__"u8;

    /// <summary>Reads a Sample (value=1, timestamp=2, 2.0 adds start_timestamp=3) for its timestamp.</summary>
    public static void ReadSample(ref ProtoWireReader sample, SampleFieldNames names, ref SummaryTally tally)
    {
        long timestamp = 0;
        while (sample.TryReadTag(names.Message, out var field, out var wireType))
        {
            switch (field)
            {
                case 1:
                    sample.Expect(wireType, WireType.Fixed64, names.Value);
                    sample.ReadFixed64(names.Value);
                    break;
                case 2:
                    sample.Expect(wireType, WireType.Varint, names.Timestamp);
                    timestamp = (long)sample.ReadVarint(names.Timestamp);
                    break;
                case 3 when names.StartTimestamp is not null:
                    sample.Expect(wireType, WireType.Varint, names.StartTimestamp);
                    sample.ReadVarint(names.StartTimestamp);
                    break;
                default:
                    sample.Skip(wireType, names.Message);
                    break;
            }
        }

        // proto3 omits a zero timestamp on the wire; it is still the sample's timestamp.
        tally.AddTimestamp(timestamp);
    }

    /// <summary>
    /// Reads a Histogram for its timestamp (field 15), checking every declared field's wire type
    /// without decoding the buckets.
    /// </summary>
    public static void ReadHistogram(ref ProtoWireReader histogram, HistogramFieldNames names, ref SummaryTally tally)
    {
        long timestamp = 0;
        while (histogram.TryReadTag(names.Message, out var field, out var wireType))
        {
            if ((uint)field >= (uint)names.Fields.Length || names.Fields[field] is not { } name)
            {
                histogram.Skip(wireType, names.Message);
                continue;
            }

            var shape = HistogramShapes[field];
            if (field == 15)
            {
                histogram.Expect(wireType, WireType.Varint, name);
                timestamp = (long)histogram.ReadVarint(name);
            }
            else if (shape.Packable)
            {
                histogram.SkipRepeatedScalar(wireType, shape.WireType, name);
            }
            else
            {
                histogram.Expect(wireType, shape.WireType, name);
                histogram.Skip(wireType, name);
            }
        }

        tally.AddTimestamp(timestamp);
    }

    // Index = field number of Histogram (both versions; 17 exists in 2.0 only).
    private static readonly (WireType WireType, bool Packable)[] HistogramShapes =
    [
        default,
        (WireType.Varint, false),          // 1 count_int
        (WireType.Fixed64, false),         // 2 count_float
        (WireType.Fixed64, false),         // 3 sum
        (WireType.Varint, false),          // 4 schema (sint32)
        (WireType.Fixed64, false),         // 5 zero_threshold
        (WireType.Varint, false),          // 6 zero_count_int
        (WireType.Fixed64, false),         // 7 zero_count_float
        (WireType.LengthDelimited, false), // 8 negative_spans
        (WireType.Varint, true),           // 9 negative_deltas (sint64)
        (WireType.Fixed64, true),          // 10 negative_counts
        (WireType.LengthDelimited, false), // 11 positive_spans
        (WireType.Varint, true),           // 12 positive_deltas (sint64)
        (WireType.Fixed64, true),          // 13 positive_counts
        (WireType.Varint, false),          // 14 reset_hint
        (WireType.Varint, false),          // 15 timestamp
        (WireType.Fixed64, true),          // 16 custom_values
        (WireType.Varint, false),          // 17 start_timestamp
    ];
}

/// <summary>Qualified field names of a Sample message, for errors.</summary>
internal sealed record SampleFieldNames(string Message, string Value, string Timestamp, string? StartTimestamp);

/// <summary>Qualified field names of a Histogram message, indexed by field number; null where the version has no such field.</summary>
internal sealed class HistogramFieldNames
{
    private static readonly string[] Names =
    [
        "",
        "count_int", "count_float", "sum", "schema", "zero_threshold", "zero_count_int", "zero_count_float",
        "negative_spans", "negative_deltas", "negative_counts", "positive_spans", "positive_deltas",
        "positive_counts", "reset_hint", "timestamp", "custom_values", "start_timestamp",
    ];

    public HistogramFieldNames(string message, int lastField)
    {
        Message = message;
        Fields = new string?[lastField + 1];
        for (var field = 1; field <= lastField; field++)
        {
            Fields[field] = message + "." + Names[field];
        }
    }

    public string Message { get; }

    public string?[] Fields { get; }
}
