namespace FastProxy.Protocol;

/// <summary>How <see cref="PayloadSummaryReader"/> reads a body.</summary>
public sealed record PayloadSummaryOptions
{
    /// <summary>Detect compression and version; 32 MiB limit; ten top metric names.</summary>
    public static PayloadSummaryOptions Default { get; } = new();

    /// <summary>How the body is compressed; <see cref="PayloadCompression.Auto"/> detects it.</summary>
    public PayloadCompression Compression { get; init; } = PayloadCompression.Auto;

    /// <summary>The version to read the body as; <see cref="RemoteWriteVersion.Unknown"/> detects it.</summary>
    public RemoteWriteVersion Version { get; init; } = RemoteWriteVersion.Unknown;

    /// <summary>The largest uncompressed size accepted, checked before decompressing.</summary>
    public int MaxDecompressedBytes { get; init; } = SnappyBlockCodec.DefaultMaxDecompressedBytes;

    /// <summary>How many entries <see cref="PayloadSummary.TopMetricNames"/> holds at most.</summary>
    public int TopMetricNames { get; init; } = 10;
}
