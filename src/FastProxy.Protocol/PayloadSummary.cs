namespace FastProxy.Protocol;

/// <summary>How a body was compressed.</summary>
public enum PayloadCompression
{
    /// <summary>Detect: a body that passes the snappy block sanity checks is snappy, anything else raw protobuf.</summary>
    Auto = 0,

    /// <summary>Raw (uncompressed) protobuf.</summary>
    None = 1,

    /// <summary>The snappy block format.</summary>
    Snappy = 2,
}

/// <summary>A metric name and the number of series that carry it.</summary>
/// <param name="Name">The <c>__name__</c> label value.</param>
/// <param name="Series">The number of series in the body with that name.</param>
public readonly record struct MetricNameCount(string Name, int Series);

/// <summary>What one remote-write body contains, counted without materialising it.</summary>
public sealed class PayloadSummary
{
    /// <summary>The protocol version the body was read as.</summary>
    public required RemoteWriteVersion Version { get; init; }

    /// <summary>How the body was compressed.</summary>
    public required PayloadCompression Compression { get; init; }

    /// <summary>The size of the body as received.</summary>
    public required long CompressedBytes { get; init; }

    /// <summary>The size of the protobuf message (equal to <see cref="CompressedBytes"/> for raw bodies).</summary>
    public required long UncompressedBytes { get; init; }

    /// <summary>The number of time series.</summary>
    public required int Series { get; init; }

    /// <summary>The number of float samples.</summary>
    public required long Samples { get; init; }

    /// <summary>The number of exemplars.</summary>
    public required long Exemplars { get; init; }

    /// <summary>The number of native histogram samples.</summary>
    public required long Histograms { get; init; }

    /// <summary>
    /// Metadata entries: 1.0 <c>MetricMetadata</c> messages, or 2.0 series whose metadata has a
    /// type, help or unit.
    /// </summary>
    public required int MetadataEntries { get; init; }

    /// <summary>The number of distinct <c>__name__</c> values among the series.</summary>
    public required int DistinctMetricNames { get; init; }

    /// <summary>The metric names with the most series, most first (ties by name, ordinal).</summary>
    public required IReadOnlyList<MetricNameCount> TopMetricNames { get; init; }

    /// <summary>The fewest labels on one series (0 when there are no series).</summary>
    public required int MinLabelsPerSeries { get; init; }

    /// <summary>The most labels on one series (0 when there are no series).</summary>
    public required int MaxLabelsPerSeries { get; init; }

    /// <summary>The mean number of labels per series (0 when there are no series).</summary>
    public required double MeanLabelsPerSeries { get; init; }

    /// <summary>The earliest sample or histogram timestamp in ms since the epoch; <c>null</c> without samples.</summary>
    public required long? MinTimestampMs { get; init; }

    /// <summary>The latest sample or histogram timestamp in ms since the epoch; <c>null</c> without samples.</summary>
    public required long? MaxTimestampMs { get; init; }
}
