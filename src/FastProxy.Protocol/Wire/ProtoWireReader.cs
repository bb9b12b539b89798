using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace FastProxy.Protocol.Wire;

/// <summary>
/// A forward-only protobuf wire reader over one message's bytes.
/// </summary>
/// <remarks>
/// Every read is bounds-checked against the message it belongs to, so a length prefix that lies
/// can only produce a <see cref="RemoteWriteFormatException"/>, never an out-of-range read. Nested
/// messages get their own reader over their slice (<see cref="ReadMessage"/>) instead of a
/// recursive parse, so depth is fixed by the caller's schema and input cannot grow the stack.
/// Field names are passed as constant strings and only formatted when an error is thrown.
/// </remarks>
internal ref struct ProtoWireReader
{
    private const int MaxFieldNumber = (1 << 29) - 1;

    private readonly ReadOnlySpan<byte> _data;

    // Absolute offset of _data[0] in the whole message, so errors point into the payload.
    private readonly int _origin;
    private int _position;

    public ProtoWireReader(ReadOnlySpan<byte> data)
        : this(data, 0)
    {
    }

    private ProtoWireReader(ReadOnlySpan<byte> data, int origin)
    {
        _data = data;
        _origin = origin;
        _position = 0;
    }

    /// <summary>Whether every byte of the message has been read.</summary>
    public readonly bool IsAtEnd => _position >= _data.Length;

    /// <summary>The absolute offset of the next byte to read.</summary>
    public readonly int Offset => _origin + _position;

    /// <summary>Reads the next tag; false at the end of the message.</summary>
    /// <param name="message">The qualified message name, for errors.</param>
    /// <param name="fieldNumber">The field number, 1 to 2^29-1.</param>
    /// <param name="wireType">Varint, fixed64, length-delimited or fixed32; groups are refused.</param>
    public bool TryReadTag(string message, out int fieldNumber, out WireType wireType)
    {
        if (_position >= _data.Length)
        {
            fieldNumber = 0;
            wireType = default;
            return false;
        }

        var start = Offset;
        var tag = ReadVarint(message);
        if (tag > uint.MaxValue)
        {
            ThrowHelper.Throw(RemoteWriteFormatError.InvalidFieldNumber, "a tag does not fit in 32 bits", message, start);
        }

        fieldNumber = (int)(tag >> 3);
        wireType = (WireType)(tag & 7);
        if (fieldNumber is 0 or > MaxFieldNumber)
        {
            ThrowHelper.Throw(
                RemoteWriteFormatError.InvalidFieldNumber,
                string.Create(CultureInfo.InvariantCulture, $"tag 0x{tag:x} has field number {fieldNumber}, outside 1..{MaxFieldNumber}"),
                message,
                start);
        }

        if (wireType is WireType.StartGroup or WireType.EndGroup or > WireType.Fixed32)
        {
            ThrowHelper.Throw(
                RemoteWriteFormatError.InvalidWireType,
                string.Create(CultureInfo.InvariantCulture, $"field {fieldNumber} has wire type {(int)wireType}, which remote write never uses"),
                message,
                start);
        }

        return true;
    }

    /// <summary>Fails unless a known field arrived with the wire type its schema declares.</summary>
    public readonly void Expect(WireType actual, WireType expected, string field)
    {
        if (actual != expected)
        {
            ThrowWrongWireType(actual, expected, field);
        }
    }

    /// <summary>Reads a varint (up to ten bytes, as protobuf allows for 64-bit values).</summary>
    public ulong ReadVarint(string field)
    {
        // Most varints in remote write (tags, lengths, label refs) are one byte.
        var position = _position;
        if ((uint)position < (uint)_data.Length)
        {
            var first = _data[position];
            if (first < 0x80)
            {
                _position = position + 1;
                return first;
            }
        }

        return ReadVarintSlow(field);
    }

    /// <summary>Reads an eight-byte little-endian value.</summary>
    public ulong ReadFixed64(string field)
    {
        if (_data.Length - _position < 8)
        {
            ThrowTruncated(field, "fixed64", 8);
        }

        var value = BinaryPrimitives.ReadUInt64LittleEndian(_data.Slice(_position, 8));
        _position += 8;
        return value;
    }

    /// <summary>Reads the payload of a length-delimited field.</summary>
    public ReadOnlySpan<byte> ReadLengthDelimited(string field)
    {
        var start = Offset;
        var length = ReadVarint(field);
        var remaining = _data.Length - _position;
        if (length > (ulong)remaining)
        {
            ThrowHelper.Throw(
                RemoteWriteFormatError.Truncated,
                string.Create(CultureInfo.InvariantCulture, $"length {length} runs past the end of the enclosing message ({remaining} bytes remain)"),
                field,
                start);
        }

        var payload = _data.Slice(_position, (int)length);
        _position += (int)length;
        return payload;
    }

    /// <summary>Reads an embedded message and returns a reader positioned at its start.</summary>
    public ProtoWireReader ReadMessage(string field)
    {
        var payload = ReadLengthDelimited(field);
        return new ProtoWireReader(payload, Offset - payload.Length);
    }

    /// <summary>Skips a field that the caller does not need.</summary>
    public void Skip(WireType wireType, string message)
    {
        switch (wireType)
        {
            case WireType.Varint:
                ReadVarint(message);
                break;
            case WireType.Fixed64:
                Advance(8, message, "fixed64");
                break;
            case WireType.LengthDelimited:
                ReadLengthDelimited(message);
                break;
            case WireType.Fixed32:
                Advance(4, message, "fixed32");
                break;
            default:
                // TryReadTag has already rejected groups and the reserved wire types.
                throw new UnreachableException();
        }
    }

    /// <summary>
    /// Counts the elements of a repeated scalar field that may arrive packed (one length-delimited
    /// run) or unpacked (one element per tag), as protobuf requires parsers to accept both.
    /// </summary>
    public int SkipRepeatedScalar(WireType actual, WireType element, string field)
    {
        if (actual == element)
        {
            Skip(actual, field);
            return 1;
        }

        Expect(actual, WireType.LengthDelimited, field);
        var start = Offset;
        var packed = ReadLengthDelimited(field);
        var origin = Offset - packed.Length;
        if (element == WireType.Varint)
        {
            // Every varint ends with exactly one byte below 0x80.
            var count = packed.Length - CountContinuationBytes(packed);
            if (packed.Length > 0 && packed[^1] >= 0x80)
            {
                ThrowHelper.Throw(RemoteWriteFormatError.Truncated, "the last packed varint is cut off", field, origin + packed.Length);
            }

            return count;
        }

        var size = element == WireType.Fixed64 ? 8 : 4;
        if (packed.Length % size != 0)
        {
            ThrowHelper.Throw(
                RemoteWriteFormatError.Truncated,
                string.Create(CultureInfo.InvariantCulture, $"packed length {packed.Length} is not a multiple of {size}"),
                field,
                start);
        }

        return packed.Length / size;
    }

    private static int CountContinuationBytes(ReadOnlySpan<byte> data)
    {
        var count = 0;
        foreach (var b in data)
        {
            count += b >> 7;
        }

        return count;
    }

    private void Advance(int count, string field, string what)
    {
        if (_data.Length - _position < count)
        {
            ThrowTruncated(field, what, count);
        }

        _position += count;
    }

    private ulong ReadVarintSlow(string field)
    {
        var start = Offset;
        ulong result = 0;
        var shift = 0;
        var position = _position;
        while (true)
        {
            if ((uint)position >= (uint)_data.Length)
            {
                ThrowHelper.Throw(RemoteWriteFormatError.Truncated, "the data ends inside a varint", field, start);
            }

            var b = _data[position++];

            // The tenth byte holds bit 63 only; anything more does not fit in 64 bits.
            if (shift == 63 && b > 1)
            {
                ThrowHelper.Throw(RemoteWriteFormatError.VarintOverflow, "a varint overflows 64 bits", field, start);
            }

            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                _position = position;
                return result;
            }

            shift += 7;
        }
    }

    [DoesNotReturn]
    private readonly void ThrowTruncated(string field, string what, int size) =>
        ThrowHelper.Throw(
            RemoteWriteFormatError.Truncated,
            string.Create(CultureInfo.InvariantCulture, $"a {what} value needs {size} bytes but {_data.Length - _position} remain"),
            field,
            Offset);

    [DoesNotReturn]
    private readonly void ThrowWrongWireType(WireType actual, WireType expected, string field) =>
        ThrowHelper.Throw(
            RemoteWriteFormatError.InvalidWireType,
            $"expected {Describe(expected)}, found {Describe(actual)}",
            field,
            Offset);

    private static string Describe(WireType wireType) => wireType switch
    {
        WireType.Varint => "varint",
        WireType.Fixed64 => "fixed64",
        WireType.LengthDelimited => "length-delimited",
        WireType.Fixed32 => "fixed32",
        _ => string.Create(CultureInfo.InvariantCulture, $"wire type {(int)wireType}"),
    };
}

/// <summary>Keeps the throw sites out of the hot readers so they stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    [StackTraceHidden]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Throw(RemoteWriteFormatError error, string detail, string? field = null, long? offset = null) =>
        throw new RemoteWriteFormatException(error, detail, field, offset);
}
