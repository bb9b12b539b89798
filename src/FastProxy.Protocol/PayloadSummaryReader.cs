using System.Buffers;
using System.Globalization;
using System.Runtime.ExceptionServices;
using FastProxy.Protocol.Summary;
using FastProxy.Protocol.Wire;

namespace FastProxy.Protocol;

/// <summary>
/// Summarises remote-write bodies: counts of series, samples, exemplars, histograms and metadata,
/// metric names, label counts, the timestamp range and sizes.
/// </summary>
/// <remarks>
/// <para>
/// The summary is read by a forward-only wire reader over the bytes rather than by the
/// generated message classes. Materialising a <c>WriteRequest</c> allocates an object per
/// series, label, sample and string — for a 2000-series body that is tens of thousands of objects
/// and several times the body's size — just to count them. The wire reader allocates nothing per
/// element: metric names are counted by their UTF-8 bytes in a per-thread table, snappy output
/// goes into a pooled buffer, and the only allocations are the summary and its top-names list.
/// </para>
/// <para>
/// Any malformed input ends in a <see cref="RemoteWriteFormatException"/> that names the
/// failure and field. Nothing is allocated in proportion to a length the body claims before that
/// length has been checked against the bytes present and the decompressed-size limit.
/// </para>
/// </remarks>
public static class PayloadSummaryReader
{
    private const string TopLevel = "top-level message";

    /// <summary>Summarises a body, detecting compression and version unless <paramref name="options"/> fix them.</summary>
    /// <param name="body">The request body as received.</param>
    /// <param name="options">How to read it; <see cref="PayloadSummaryOptions.Default"/> when <c>null</c>.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="RemoteWriteFormatException">The body is not a readable remote-write body.</exception>
    /// <remarks>
    /// Compression detection (<see cref="PayloadCompression.Auto"/>): a framed-snappy body, or a
    /// preamble announcing more than the limit, fails as such. A body that passes
    /// <see cref="SnappyBlockCodec.LooksLikeBlock"/> is decompressed; if decompression fails it is
    /// read as raw protobuf instead (a small raw message can pass the sanity checks by chance),
    /// and if that fails too the snappy error is reported. A body that starts like a block but is
    /// too short for the length it announces is read as raw protobuf, and if that fails it is
    /// reported as a cut-short snappy block. Anything else is read as raw protobuf. Version
    /// detection: see <see cref="DetectVersion"/>.
    /// </remarks>
    public static PayloadSummary Summarize(ReadOnlySpan<byte> body, PayloadSummaryOptions? options = null)
    {
        options ??= PayloadSummaryOptions.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxDecompressedBytes, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.TopMetricNames, nameof(options));

        switch (options.Compression)
        {
            case PayloadCompression.None:
                return SummarizeMessage(body, body.Length, PayloadCompression.None, options);
            case PayloadCompression.Snappy:
                return SummarizeSnappyCore(body, options);
        }

        switch (SnappyBlockCodec.Inspect(body, options.MaxDecompressedBytes))
        {
            case SnappyBlockCodec.BlockShape.Framed or SnappyBlockCodec.BlockShape.OverLimit:
                // Fails with the framed or over-limit error, which is what the body most plainly is.
                return SummarizeSnappyCore(body, options);

            case SnappyBlockCodec.BlockShape.Plausible:
                IMemoryOwner<byte> message;
                try
                {
                    message = SnappyBlockCodec.DecompressPooled(body, options.MaxDecompressedBytes);
                }
                catch (RemoteWriteFormatException snappyError)
                {
                    return SummarizeRawOr(body, options, snappyError);
                }

                using (message)
                {
                    return SummarizeMessage(message.Memory.Span, body.Length, PayloadCompression.Snappy, options);
                }

            case SnappyBlockCodec.BlockShape.TooShort:
                try
                {
                    return SummarizeMessage(body, body.Length, PayloadCompression.None, options);
                }
                catch (RemoteWriteFormatException)
                {
                    // Neither reading works; the start was a snappy block's, so the body was most
                    // likely cut short, and the snappy error says so.
                    SnappyBlockCodec.GetDecompressedLength(body, options.MaxDecompressedBytes);
                    throw;
                }

            default:
                try
                {
                    return SummarizeMessage(body, body.Length, PayloadCompression.None, options);
                }
                catch (RemoteWriteFormatException ex)
                {
                    throw ex.WithMessagePrefix("not a snappy block, and not a valid raw protobuf message either: ");
                }
        }
    }

    /// <summary>Summarises a snappy-compressed body, the form Prometheus sends.</summary>
    /// <param name="body">The snappy block.</param>
    /// <param name="version">The negotiated version (see <see cref="RemoteWriteNegotiation"/>), or <see cref="RemoteWriteVersion.Unknown"/> to detect it.</param>
    /// <param name="maxDecompressedBytes">The largest uncompressed size accepted, checked before decompressing.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="RemoteWriteFormatException">The body is not a readable remote-write body.</exception>
    public static PayloadSummary SummarizeSnappy(
        ReadOnlySpan<byte> body,
        RemoteWriteVersion version = RemoteWriteVersion.Unknown,
        int maxDecompressedBytes = SnappyBlockCodec.DefaultMaxDecompressedBytes) =>
        Summarize(body, new PayloadSummaryOptions
        {
            Compression = PayloadCompression.Snappy,
            Version = version,
            MaxDecompressedBytes = maxDecompressedBytes,
        });

    /// <summary>Summarises an uncompressed protobuf message.</summary>
    /// <param name="message">The protobuf bytes.</param>
    /// <param name="version">The version, or <see cref="RemoteWriteVersion.Unknown"/> to detect it.</param>
    /// <returns>The summary.</returns>
    /// <exception cref="RemoteWriteFormatException">The message is not a readable remote-write message.</exception>
    public static PayloadSummary SummarizeProtobuf(ReadOnlySpan<byte> message, RemoteWriteVersion version = RemoteWriteVersion.Unknown) =>
        Summarize(message, new PayloadSummaryOptions { Compression = PayloadCompression.None, Version = version });

    /// <summary>Works out whether an uncompressed message is remote write 1.0 or 2.0 from its top-level fields.</summary>
    /// <param name="message">The protobuf bytes.</param>
    /// <returns><see cref="RemoteWriteVersion.V2"/> or <see cref="RemoteWriteVersion.V1"/>.</returns>
    /// <exception cref="RemoteWriteFormatException">The top level is malformed, or mixes fields of both versions.</exception>
    /// <remarks>
    /// The two messages share no field number: 1.0 uses 1 (timeseries) and 3 (metadata), and 2.0
    /// reserves 1 to 3 and uses 4 (symbols) and 5 (timeseries), all length-delimited. A message
    /// with 2.0 fields and no 1.0 field is 2.0; anything else is 1.0, including an empty message,
    /// which is an empty request in either version. Only tags are read; field contents are skipped.
    /// </remarks>
    public static RemoteWriteVersion DetectVersion(ReadOnlySpan<byte> message)
    {
        var (v1Field, v2Field) = ScanTopLevel(message);
        if (v1Field != 0 && v2Field != 0)
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.WrongMessageType,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"the message has field {v1Field} of prometheus.WriteRequest and field {v2Field} of io.prometheus.write.v2.Request, so it is neither"),
                TopLevel);
        }

        return v2Field != 0 ? RemoteWriteVersion.V2 : RemoteWriteVersion.V1;
    }

    /// <summary>The last length-delimited 1.0 field (1 or 3) and 2.0 field (4 or 5) at the top level; 0 when absent.</summary>
    internal static (int V1Field, int V2Field) ScanTopLevel(ReadOnlySpan<byte> message)
    {
        var reader = new ProtoWireReader(message);
        var v1Field = 0;
        var v2Field = 0;
        while (reader.TryReadTag(TopLevel, out var field, out var wireType))
        {
            if (wireType == WireType.LengthDelimited)
            {
                switch (field)
                {
                    case 1 or 3:
                        v1Field = field;
                        break;
                    case 4 or 5:
                        v2Field = field;
                        break;
                }
            }

            reader.Skip(wireType, TopLevel);
        }

        return (v1Field, v2Field);
    }

    /// <summary>Reads a body that failed to decompress as raw protobuf; if that fails too, the snappy error stands.</summary>
    private static PayloadSummary SummarizeRawOr(ReadOnlySpan<byte> body, PayloadSummaryOptions options, RemoteWriteFormatException snappyError)
    {
        try
        {
            return SummarizeMessage(body, body.Length, PayloadCompression.None, options);
        }
        catch (RemoteWriteFormatException)
        {
            ExceptionDispatchInfo.Throw(snappyError);
            throw;
        }
    }

    private static PayloadSummary SummarizeSnappyCore(ReadOnlySpan<byte> body, PayloadSummaryOptions options)
    {
        using var message = SnappyBlockCodec.DecompressPooled(body, options.MaxDecompressedBytes);
        return SummarizeMessage(message.Memory.Span, body.Length, PayloadCompression.Snappy, options);
    }

    private static PayloadSummary SummarizeMessage(
        ReadOnlySpan<byte> message,
        long compressedBytes,
        PayloadCompression compression,
        PayloadSummaryOptions options)
    {
        var version = options.Version == RemoteWriteVersion.Unknown ? DetectVersion(message) : options.Version;
        var names = MetricNameCounter.Rent();
        try
        {
            var tally = default(SummaryTally);
            switch (version)
            {
                case RemoteWriteVersion.V1:
                    V1Summarizer.Summarize(message, ref tally, names);
                    break;
                case RemoteWriteVersion.V2:
                    V2Summarizer.Summarize(message, ref tally, names);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(options), version, "Unsupported remote-write version.");
            }

            return tally.ToSummary(version, compression, compressedBytes, message.Length, names, options.TopMetricNames);
        }
        finally
        {
            names.Return();
        }
    }
}
