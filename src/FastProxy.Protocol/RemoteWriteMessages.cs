using System.Globalization;
using FastProxy.Protocol.Summary;
using Google.Protobuf;

namespace FastProxy.Protocol;

/// <summary>
/// Parses uncompressed remote-write messages into the generated types, with the errors of this
/// library instead of Google.Protobuf's.
/// </summary>
public static class RemoteWriteMessages
{
    /// <summary>Parses a remote-write 1.0 <c>prometheus.WriteRequest</c>.</summary>
    /// <param name="message">The uncompressed protobuf bytes.</param>
    /// <returns>The request.</returns>
    /// <exception cref="RemoteWriteFormatException">The bytes are malformed or are a 2.0 request.</exception>
    public static V1.WriteRequest ParseV1(ReadOnlySpan<byte> message)
    {
        var (_, v2Field) = PayloadSummaryReader.ScanTopLevel(message);
        if (v2Field != 0)
        {
            throw WrongMessage(v2Field, "io.prometheus.write.v2.Request", "prometheus.WriteRequest", "2.0");
        }

        try
        {
            return V1.WriteRequest.Parser.ParseFrom(message);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw Locate(message, RemoteWriteVersion.V1, ex);
        }
    }

    /// <summary>Parses a remote-write 2.0 <c>io.prometheus.write.v2.Request</c>.</summary>
    /// <param name="message">The uncompressed protobuf bytes.</param>
    /// <returns>The request; symbol references are not resolved or checked here.</returns>
    /// <exception cref="RemoteWriteFormatException">The bytes are malformed or are a 1.0 request.</exception>
    public static V2.Request ParseV2(ReadOnlySpan<byte> message)
    {
        var (v1Field, _) = PayloadSummaryReader.ScanTopLevel(message);
        if (v1Field != 0)
        {
            throw WrongMessage(v1Field, "prometheus.WriteRequest", "io.prometheus.write.v2.Request", "1.0");
        }

        try
        {
            return V2.Request.Parser.ParseFrom(message);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw Locate(message, RemoteWriteVersion.V2, ex);
        }
    }

    private static RemoteWriteFormatException WrongMessage(int field, string actual, string expected, string version) =>
        new(
            RemoteWriteFormatError.WrongMessageType,
            string.Create(CultureInfo.InvariantCulture, $"top-level field {field} belongs to {actual}: the body is a remote-write {version} request, not {expected}"),
            expected);

    /// <summary>
    /// Google.Protobuf's messages do not say which field failed; the wire reader does, so it
    /// re-reads the bytes to find the place.
    /// </summary>
    private static RemoteWriteFormatException Locate(ReadOnlySpan<byte> message, RemoteWriteVersion version, InvalidProtocolBufferException cause)
    {
        try
        {
            PayloadSummaryReader.SummarizeProtobuf(message, version);
        }
        catch (RemoteWriteFormatException located)
        {
            return located.WithCause(cause);
        }

        return new RemoteWriteFormatException(
            cause.Message.Contains("ended unexpectedly", StringComparison.Ordinal) ? RemoteWriteFormatError.Truncated : RemoteWriteFormatError.InvalidWireType,
            cause.Message,
            innerException: cause);
    }
}
