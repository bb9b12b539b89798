using System.Buffers;
using System.Globalization;
using System.IO;
using Snappier;

namespace FastProxy.Protocol;

/// <summary>
/// The snappy block format that remote write uses for bodies (<c>Content-Encoding: snappy</c>),
/// with the checks a receiver needs before it trusts a length it was sent.
/// </summary>
/// <remarks>
/// A block starts with its uncompressed length as a varint. That length is checked against a
/// limit before any buffer is allocated (Prometheus caps decoded bodies at 32 MiB for the same
/// reason), and against what the compressed bytes could possibly expand to, so a tiny body cannot
/// make the reader rent a large buffer. The framing (stream) format is recognised by its stream
/// identifier chunk and refused: remote write forbids it and its chunks are not a block.
/// </remarks>
public static class SnappyBlockCodec
{
    /// <summary>The default decompressed-size limit: 32 MiB, as in Prometheus.</summary>
    public const int DefaultMaxDecompressedBytes = 32 * 1024 * 1024;

    // Snappy's densest element is a 3-byte copy that emits 64 bytes; no block expands further.
    private const int MaxExpansionRatio = 22;

    // A framed stream starts with a stream identifier chunk: type 0xff, length 6, "sNaPpY".
    private static ReadOnlySpan<byte> StreamIdentifier => [0xff, 0x06, 0x00, 0x00, (byte)'s', (byte)'N', (byte)'a', (byte)'P', (byte)'p', (byte)'Y'];

    /// <summary>Whether <paramref name="data"/> starts like a snappy framed stream.</summary>
    /// <remarks>A prefix of the identifier chunk counts too, so a cut-off framed body is still named as such.</remarks>
    public static bool IsFramed(ReadOnlySpan<byte> data) =>
        data.Length >= 4 && StreamIdentifier.StartsWith(data[..Math.Min(data.Length, StreamIdentifier.Length)]);

    /// <summary>
    /// Whether <paramref name="data"/> plausibly is a snappy block: a valid length preamble
    /// followed by a literal (every block starts with one, since a copy needs earlier output) that
    /// fits the announced length, and an announced length the input could expand to. A preamble
    /// announcing more than <paramref name="maxDecompressedBytes"/> also counts, so that such a
    /// body fails as too large instead of being read as something else.
    /// </summary>
    /// <param name="data">The body.</param>
    /// <param name="maxDecompressedBytes">The decompressed-size limit in force.</param>
    public static bool LooksLikeBlock(ReadOnlySpan<byte> data, int maxDecompressedBytes = DefaultMaxDecompressedBytes) =>
        Inspect(data, maxDecompressedBytes) is BlockShape.Plausible or BlockShape.OverLimit;

    /// <summary>How far a body resembles a snappy block, from its first few bytes and its length.</summary>
    internal static BlockShape Inspect(ReadOnlySpan<byte> data, int maxDecompressedBytes)
    {
        if (IsFramed(data))
        {
            return BlockShape.Framed;
        }

        if (!TryReadPreamble(data, out var length, out var preambleSize))
        {
            return BlockShape.NotSnappy;
        }

        if (length > (uint)maxDecompressedBytes)
        {
            return BlockShape.OverLimit;
        }

        var elements = data[preambleSize..];
        if (elements.IsEmpty)
        {
            return length == 0 ? BlockShape.Plausible : BlockShape.TooShort;
        }

        if (!TryReadFirstLiteral(elements, out var literalLength) || (ulong)literalLength > length)
        {
            return BlockShape.NotSnappy;
        }

        return length > (ulong)elements.Length * MaxExpansionRatio ? BlockShape.TooShort : BlockShape.Plausible;
    }

    /// <summary>
    /// Reads the uncompressed length a block announces and checks it before anything is allocated.
    /// </summary>
    /// <param name="block">The compressed body.</param>
    /// <param name="maxDecompressedBytes">The largest uncompressed size accepted.</param>
    /// <returns>The announced uncompressed length.</returns>
    /// <exception cref="RemoteWriteFormatException">
    /// The body is framed snappy, has no valid preamble, announces more than the limit, or
    /// announces more than its compressed bytes could hold.
    /// </exception>
    public static int GetDecompressedLength(ReadOnlySpan<byte> block, int maxDecompressedBytes = DefaultMaxDecompressedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDecompressedBytes);
        if (IsFramed(block))
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.FramedSnappy,
                "the body uses the snappy framing format (it starts with the sNaPpY stream identifier); remote write requires the block format");
        }

        if (block.IsEmpty)
        {
            throw new RemoteWriteFormatException(RemoteWriteFormatError.NotSnappy, "the body is empty, so it has no snappy length preamble");
        }

        if (!TryReadPreamble(block, out var length, out var preambleSize))
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.NotSnappy,
                "the snappy length preamble is not a varint of at most 32 bits",
                offset: 0);
        }

        if (length > (uint)maxDecompressedBytes)
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.DecompressedTooLarge,
                string.Create(CultureInfo.InvariantCulture, $"the snappy preamble announces {length} bytes, over the {maxDecompressedBytes}-byte limit"));
        }

        var elements = block[preambleSize..];
        if (length > 0 && !elements.IsEmpty && (!TryReadFirstLiteral(elements, out var literalLength) || (ulong)literalLength > length))
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.NotSnappy,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"a snappy block starts with a literal no longer than the block, but this one starts with tag 0x{elements[0]:x2}"),
                offset: preambleSize);
        }

        if (length > (ulong)elements.Length * MaxExpansionRatio)
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.Truncated,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"the snappy preamble announces {length} bytes, more than the {elements.Length} compressed bytes that follow can expand to: the body is cut short"));
        }

        return (int)length;
    }

    /// <summary>Decompresses a block into <paramref name="destination"/>.</summary>
    /// <param name="block">The compressed body.</param>
    /// <param name="destination">At least <see cref="GetDecompressedLength"/> bytes.</param>
    /// <param name="maxDecompressedBytes">The largest uncompressed size accepted.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="RemoteWriteFormatException">The body is not a valid block within the limit.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Decompress(ReadOnlySpan<byte> block, Span<byte> destination, int maxDecompressedBytes = DefaultMaxDecompressedBytes)
    {
        var length = GetDecompressedLength(block, maxDecompressedBytes);
        if (destination.Length < length)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The destination holds {destination.Length} bytes; the block needs {length}."),
                nameof(destination));
        }

        DecompressExactly(block, destination[..length]);
        return length;
    }

    /// <summary>Decompresses a block into a new array.</summary>
    /// <param name="block">The compressed body.</param>
    /// <param name="maxDecompressedBytes">The largest uncompressed size accepted.</param>
    /// <exception cref="RemoteWriteFormatException">The body is not a valid block within the limit.</exception>
    public static byte[] Decompress(ReadOnlySpan<byte> block, int maxDecompressedBytes = DefaultMaxDecompressedBytes)
    {
        var length = GetDecompressedLength(block, maxDecompressedBytes);
        var output = GC.AllocateUninitializedArray<byte>(length);
        DecompressExactly(block, output);
        return output;
    }

    /// <summary>
    /// Decompresses a block into a buffer rented from <see cref="ArrayPool{T}.Shared"/>; dispose
    /// the result to return it.
    /// </summary>
    /// <param name="block">The compressed body.</param>
    /// <param name="maxDecompressedBytes">The largest uncompressed size accepted.</param>
    /// <returns>An owner whose <see cref="IMemoryOwner{T}.Memory"/> is exactly the uncompressed bytes.</returns>
    /// <exception cref="RemoteWriteFormatException">The body is not a valid block within the limit.</exception>
    public static IMemoryOwner<byte> DecompressPooled(ReadOnlySpan<byte> block, int maxDecompressedBytes = DefaultMaxDecompressedBytes)
    {
        var length = GetDecompressedLength(block, maxDecompressedBytes);
        var owner = new PooledBuffer(length);
        try
        {
            DecompressExactly(block, owner.Memory.Span);
            return owner;
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    /// <summary>The largest block <see cref="Compress(ReadOnlySpan{byte}, Span{byte})"/> can produce for <paramref name="sourceLength"/> bytes.</summary>
    public static int GetMaxCompressedLength(int sourceLength) => Snappier.Snappy.GetMaxCompressedLength(sourceLength);

    /// <summary>Compresses <paramref name="source"/> as one snappy block.</summary>
    /// <returns>The number of bytes written to <paramref name="destination"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is smaller than <see cref="GetMaxCompressedLength"/>.</exception>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination) => Snappier.Snappy.Compress(source, destination);

    /// <summary>Compresses <paramref name="source"/> as one snappy block into a new array.</summary>
    public static byte[] Compress(ReadOnlySpan<byte> source) => Snappier.Snappy.CompressToArray(source);

    private static void DecompressExactly(ReadOnlySpan<byte> block, Span<byte> destination)
    {
        int written;
        try
        {
            if (!Snappier.Snappy.TryDecompress(block, destination, out written))
            {
                written = -1;
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            // Snappier reports damage as InvalidDataException, and input that ends early as
            // "Incomplete Snappy block"; the other types are defensive, so that no input can
            // surface as anything but a format error.
            var truncated = ex.Message.Contains("Incomplete", StringComparison.OrdinalIgnoreCase);
            throw new RemoteWriteFormatException(
                truncated ? RemoteWriteFormatError.Truncated : RemoteWriteFormatError.CorruptSnappy,
                truncated
                    ? string.Create(CultureInfo.InvariantCulture, $"the snappy block ends before it produces the {destination.Length} bytes its preamble announces")
                    : $"the snappy block is damaged ({ex.Message.TrimEnd('.')})",
                innerException: ex);
        }

        if (written != destination.Length)
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.CorruptSnappy,
                string.Create(CultureInfo.InvariantCulture, $"the block decodes to a different length than its preamble announces ({destination.Length} bytes)"));
        }
    }

    private static bool TryReadFirstLiteral(ReadOnlySpan<byte> elements, out long literalLength)
    {
        // Every block starts with a literal, since a copy needs earlier output. Its tag keeps
        // lengths 1..60 in the upper six bits; 60..63 there mean 1..4 little-endian length bytes follow.
        literalLength = 0;
        if (elements.IsEmpty || (elements[0] & 3) != 0)
        {
            return false;
        }

        var tagLength = elements[0] >> 2;
        if (tagLength < 60)
        {
            literalLength = tagLength + 1;
            return true;
        }

        var extraBytes = tagLength - 59;
        if (elements.Length <= extraBytes)
        {
            return false;
        }

        for (var i = extraBytes; i >= 1; i--)
        {
            literalLength = (literalLength << 8) | elements[i];
        }

        literalLength++;
        return true;
    }

    private static bool TryReadPreamble(ReadOnlySpan<byte> data, out ulong length, out int size)
    {
        // The preamble is a little-endian base-128 varint of at most 32 bits (five bytes).
        length = 0;
        for (var i = 0; i < 5 && i < data.Length; i++)
        {
            var b = data[i];
            length |= (ulong)(b & 0x7f) << (7 * i);
            if (b < 0x80)
            {
                size = i + 1;
                return length <= uint.MaxValue;
            }
        }

        size = 0;
        return false;
    }

    /// <summary>What <see cref="Inspect"/> concluded.</summary>
    internal enum BlockShape
    {
        /// <summary>No valid preamble, or the first element is not a literal that fits.</summary>
        NotSnappy,

        /// <summary>The framing format's stream identifier.</summary>
        Framed,

        /// <summary>A valid start announcing more than the limit.</summary>
        OverLimit,

        /// <summary>A valid start, but too few bytes for the announced length: likely cut short.</summary>
        TooShort,

        /// <summary>Everything checkable without decompressing holds.</summary>
        Plausible,
    }

    private sealed class PooledBuffer : IMemoryOwner<byte>
    {
        private byte[]? _array;
        private readonly int _length;

        public PooledBuffer(int length)
        {
            _array = ArrayPool<byte>.Shared.Rent(length);
            _length = length;
        }

        public Memory<byte> Memory => _array is { } array
            ? array.AsMemory(0, _length)
            : throw new ObjectDisposedException(nameof(PooledBuffer));

        public void Dispose()
        {
            // Return once even if disposed twice: a second Return would hand the array out twice.
            if (Interlocked.Exchange(ref _array, null) is { } array)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
