using System.Globalization;
using System.Text;

namespace FastProxy.Protocol;

/// <summary>
/// A remote-write body could not be read. The message names what was wrong and, for protobuf
/// errors, the field that failed and the byte offset in the uncompressed message.
/// </summary>
/// <remarks>
/// Every failure of the readers in this library surfaces as this type, so callers (the proxy's
/// diagnostics tap, the <c>decode</c> command) need one catch clause and can print
/// <see cref="Exception.Message"/> as it is.
/// </remarks>
public sealed class RemoteWriteFormatException : FormatException
{
    /// <summary>Creates an exception with a generic message.</summary>
    public RemoteWriteFormatException()
        : this("The remote-write body is malformed.")
    {
    }

    /// <summary>Creates an exception with the given message.</summary>
    /// <param name="message">What was wrong.</param>
    public RemoteWriteFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with the given message and cause.</summary>
    /// <param name="message">What was wrong.</param>
    /// <param name="innerException">The failure that revealed it.</param>
    public RemoteWriteFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception describing a specific failure.</summary>
    /// <param name="error">The kind of failure.</param>
    /// <param name="detail">A sentence about this occurrence.</param>
    /// <param name="field">The qualified protobuf field that failed, if any (for example <c>prometheus.Sample.timestamp</c>).</param>
    /// <param name="offset">The byte offset in the uncompressed message where the failure was seen, if known.</param>
    /// <param name="innerException">The failure that revealed it, if any.</param>
    public RemoteWriteFormatException(
        RemoteWriteFormatError error,
        string detail,
        string? field = null,
        long? offset = null,
        Exception? innerException = null)
        : this(error, detail, field, offset, seriesIndex: null, innerException)
    {
    }

    private RemoteWriteFormatException(
        RemoteWriteFormatError error,
        string detail,
        string? field,
        long? offset,
        int? seriesIndex,
        Exception? innerException)
        : base(Compose(error, detail, field, offset, seriesIndex), innerException)
    {
        Error = error;
        Detail = detail;
        Field = field;
        Offset = offset;
        SeriesIndex = seriesIndex;
    }

    private RemoteWriteFormatException(
        string message,
        RemoteWriteFormatError? error,
        string? detail,
        string? field,
        long? offset,
        int? seriesIndex,
        Exception? innerException)
        : base(message, innerException)
    {
        Error = error;
        Detail = detail;
        Field = field;
        Offset = offset;
        SeriesIndex = seriesIndex;
    }

    /// <summary>The kind of failure; <c>null</c> when created with a plain message.</summary>
    public RemoteWriteFormatError? Error { get; }

    /// <summary>The sentence about this occurrence, without the field and offset.</summary>
    public string? Detail { get; }

    /// <summary>The qualified protobuf field that failed, for example <c>prometheus.Label.name</c>.</summary>
    public string? Field { get; }

    /// <summary>The byte offset in the uncompressed message where the failure was seen.</summary>
    public long? Offset { get; }

    /// <summary>The zero-based index of the time series being read when the failure was seen.</summary>
    public int? SeriesIndex { get; }

    /// <summary>The same failure, located inside the time series at <paramref name="index"/>.</summary>
    internal RemoteWriteFormatException InSeries(int index) =>
        Error is { } error && SeriesIndex is null
            ? new RemoteWriteFormatException(error, Detail ?? Message, Field, Offset, index, InnerException)
            : this;

    /// <summary>The same failure with context in front of its message.</summary>
    internal RemoteWriteFormatException WithMessagePrefix(string prefix) =>
        new(prefix + Message, Error, Detail, Field, Offset, SeriesIndex, this);

    /// <summary>The same failure, recording <paramref name="cause"/> as the exception that revealed it.</summary>
    internal RemoteWriteFormatException WithCause(Exception cause) =>
        Error is { } error
            ? new RemoteWriteFormatException(error, Detail ?? Message, Field, Offset, SeriesIndex, cause)
            : new RemoteWriteFormatException(Message, cause);

    private static string Compose(RemoteWriteFormatError error, string detail, string? field, long? offset, int? seriesIndex)
    {
        var text = new StringBuilder(128);
        text.Append(Describe(error)).Append(": ").Append(detail);
        if (field is not null)
        {
            text.Append(" (at ").Append(field);
            if (seriesIndex is { } series)
            {
                text.Append(" in timeseries[").Append(series.ToString(CultureInfo.InvariantCulture)).Append(']');
            }

            if (offset is { } at)
            {
                text.Append(", byte offset ").Append(at.ToString(CultureInfo.InvariantCulture));
            }

            text.Append(')');
        }
        else if (offset is { } at)
        {
            text.Append(" (byte offset ").Append(at.ToString(CultureInfo.InvariantCulture)).Append(')');
        }

        return text.ToString();
    }

    private static string Describe(RemoteWriteFormatError error) => error switch
    {
        RemoteWriteFormatError.NotSnappy => "not snappy",
        RemoteWriteFormatError.FramedSnappy => "framed snappy",
        RemoteWriteFormatError.CorruptSnappy => "corrupt snappy block",
        RemoteWriteFormatError.DecompressedTooLarge => "decompressed size over limit",
        RemoteWriteFormatError.Truncated => "truncated",
        RemoteWriteFormatError.VarintOverflow => "varint overflow",
        RemoteWriteFormatError.InvalidWireType => "wrong wire type",
        RemoteWriteFormatError.InvalidFieldNumber => "invalid field number",
        RemoteWriteFormatError.WrongMessageType => "wrong message type",
        RemoteWriteFormatError.InvalidReference => "invalid symbol reference",
        RemoteWriteFormatError.TranslationTooLarge => "translation too large",
        _ => "malformed",
    };
}
