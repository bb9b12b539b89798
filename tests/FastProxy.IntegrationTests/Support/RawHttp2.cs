using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.IntegrationTests.Support;

/// <summary>What came back on stream 1: a status (null when the stream was reset or the connection ended first).</summary>
internal sealed record Http2Outcome(int? Status, string Body, uint? ResetCode, bool GoAway)
{
    public override string ToString() =>
        Status is { } status ? $"status {status} body '{Body}'" : ResetCode is { } code ? $"RST_STREAM {code}" : GoAway ? "GOAWAY" : "connection closed";
}

/// <summary>
/// One HTTP/2 request with prior knowledge over a bare socket, for header blocks HttpClient will
/// not send (a CONNECT with only :method and :authority, an absolute-form :path). Headers go out
/// as HPACK literals, exactly as given and in order; the answer's :status is read from the first
/// field of the response block (Kestrel does not Huffman-encode it).
/// </summary>
internal static class RawHttp2
{
    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, GoAway = 0x7;
    private const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;

    // RFC 7541 Appendix A: the :status entries of the static table.
    private static readonly Dictionary<int, int> StaticStatus = new() { [8] = 200, [9] = 204, [10] = 206, [11] = 304, [12] = 400, [13] = 404, [14] = 500 };

    public static async Task<Http2Outcome> SendAsync(int port, IReadOnlyList<(string Name, string Value)> headers, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        using var stream = new NetworkStream(socket, ownsSocket: false);

        var block = new MemoryStream();
        foreach (var (name, value) in headers)
        {
            block.WriteByte(0x00); // literal header field without indexing, new name
            WriteString(block, name);
            WriteString(block, value);
        }

        var output = new MemoryStream();
        output.Write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8);
        WriteFrame(output, Settings, 0, 0, []);
        WriteFrame(output, Headers, EndHeaders | EndStream, 1, block.ToArray());
        await stream.WriteAsync(output.ToArray(), cancellationToken);

        int? status = null;
        var body = new StringBuilder();
        var header = new byte[9];
        while (true)
        {
            if (!await ReadExactlyOrEndAsync(stream, header, cancellationToken))
            {
                return new Http2Outcome(status, body.ToString(), null, false);
            }

            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var type = header[3];
            var flags = header[4];
            var streamId = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) & 0x7FFF_FFFF;
            var payload = new byte[length];
            if (!await ReadExactlyOrEndAsync(stream, payload, cancellationToken))
            {
                return new Http2Outcome(status, body.ToString(), null, false);
            }

            switch (type)
            {
                case Settings when (flags & Ack) == 0:
                    var ack = new MemoryStream();
                    WriteFrame(ack, Settings, Ack, 0, []);
                    await stream.WriteAsync(ack.ToArray(), cancellationToken);
                    break;
                case Headers when streamId == 1:
                    status ??= ReadStatus(payload);
                    if ((flags & EndStream) != 0)
                    {
                        return new Http2Outcome(status, body.ToString(), null, false);
                    }

                    break;
                case Data when streamId == 1:
                    body.Append(Encoding.UTF8.GetString(payload));
                    if ((flags & EndStream) != 0)
                    {
                        return new Http2Outcome(status, body.ToString(), null, false);
                    }

                    break;
                case RstStream when streamId == 1:
                    return new Http2Outcome(status, body.ToString(), BinaryPrimitives.ReadUInt32BigEndian(payload), false);
                case GoAway:
                    return new Http2Outcome(status, body.ToString(), null, true);
            }
        }
    }

    private static int ReadStatus(byte[] block)
    {
        var first = block[0];
        if ((first & 0x80) != 0)
        {
            return StaticStatus.TryGetValue(first & 0x7F, out var indexed) ? indexed : throw new InvalidOperationException($"first response field is index {first & 0x7F}, not :status");
        }

        // A literal whose name is static entry 8 (":status"), with or without incremental indexing.
        var nameIndex = (first & 0x40) != 0 ? first & 0x3F : first & 0x0F;
        if (nameIndex is < 8 or > 14 || (block[1] & 0x80) != 0)
        {
            throw new InvalidOperationException($"cannot read :status from a block starting {Convert.ToHexString(block.AsSpan(0, Math.Min(8, block.Length)))}");
        }

        return int.Parse(Encoding.ASCII.GetString(block, 2, block[1] & 0x7F), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void WriteString(MemoryStream block, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        // HPACK integer with a 7-bit prefix (RFC 7541 §5.1), Huffman bit clear.
        if (bytes.Length < 127)
        {
            block.WriteByte((byte)bytes.Length);
        }
        else
        {
            block.WriteByte(127);
            var rest = bytes.Length - 127;
            while (rest >= 128)
            {
                block.WriteByte((byte)((rest & 0x7F) | 0x80));
                rest >>= 7;
            }

            block.WriteByte((byte)rest);
        }

        block.Write(bytes);
    }

    private static void WriteFrame(MemoryStream output, byte type, byte flags, uint streamId, byte[] payload)
    {
        output.WriteByte((byte)(payload.Length >> 16));
        output.WriteByte((byte)(payload.Length >> 8));
        output.WriteByte((byte)payload.Length);
        output.WriteByte(type);
        output.WriteByte(flags);
        Span<byte> id = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(id, streamId);
        output.Write(id);
        output.Write(payload);
    }

    private static async Task<bool> ReadExactlyOrEndAsync(NetworkStream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        try
        {
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
            return read == buffer.Length;
        }
        catch (IOException)
        {
            return false; // reset by the server
        }
    }
}
