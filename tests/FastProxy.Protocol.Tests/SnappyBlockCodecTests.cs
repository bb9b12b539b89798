using CsCheck;

namespace FastProxy.Protocol.Tests;

public sealed class SnappyBlockCodecTests
{
    // A framed stream: the stream identifier chunk, then an uncompressed data chunk of "hi".
    private static readonly byte[] FramedBody =
        [0xff, 0x06, 0x00, 0x00, .. "sNaPpY"u8, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, .. "hi"u8];

    [Fact]
    public void RandomBytes_RoundTrip()
    {
        Gen.Byte.Array[0, 4096].Sample(data =>
        {
            var block = SnappyBlockCodec.Compress(data);

            Assert.Equal(data, SnappyBlockCodec.Decompress(block));
            Assert.True(block.Length <= SnappyBlockCodec.GetMaxCompressedLength(data.Length));
        });
    }

    [Fact]
    public void CompressIntoSpan_MatchesArrayForm()
    {
        var data = Fixtures.ReadUncompressed("batch-12826.snappy");
        var buffer = new byte[SnappyBlockCodec.GetMaxCompressedLength(data.Length)];

        var written = SnappyBlockCodec.Compress(data, buffer);

        Assert.Equal(SnappyBlockCodec.Compress(data), buffer[..written]);
    }

    [Fact]
    public void FramedBody_IsRejectedWithClearMessage()
    {
        Assert.True(SnappyBlockCodec.IsFramed(FramedBody));

        var error = Assert.Throws<RemoteWriteFormatException>(() => SnappyBlockCodec.Decompress(FramedBody));

        Assert.Equal(RemoteWriteFormatError.FramedSnappy, error.Error);
        Assert.Contains("framing format", error.Message, StringComparison.Ordinal);
        Assert.Contains("block format", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(PayloadCompression.Auto)]
    [InlineData(PayloadCompression.Snappy)]
    public void FramedBody_IsRejectedBySummary(PayloadCompression compression)
    {
        var error = Assert.Throws<RemoteWriteFormatException>(
            () => PayloadSummaryReader.Summarize(FramedBody, new PayloadSummaryOptions { Compression = compression }));

        Assert.Equal(RemoteWriteFormatError.FramedSnappy, error.Error);
    }

    [Fact]
    public void CutOffFramedIdentifier_IsStillFramed()
    {
        Assert.True(SnappyBlockCodec.IsFramed(FramedBody.AsSpan(0, 6)));
    }

    [Fact]
    public void FiveByteBodyClaimingFourGiB_FailsBeforeAllocating()
    {
        byte[] body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        SnappyBlockCodec.Decompress(SnappyBlockCodec.Compress([1, 2, 3]));
        Assert.Throws<RemoteWriteFormatException>(() => SnappyBlockCodec.Decompress(body));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.Summarize(body));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(RemoteWriteFormatError.DecompressedTooLarge, error.Error);
        Assert.Contains("4294967295", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void BodyOverConfiguredLimit_FailsAsTooLarge()
    {
        var block = SnappyBlockCodec.Compress(new byte[1000]);

        var error = Assert.Throws<RemoteWriteFormatException>(() => SnappyBlockCodec.Decompress(block, maxDecompressedBytes: 999));

        Assert.Equal(RemoteWriteFormatError.DecompressedTooLarge, error.Error);
        Assert.Equal(1000, SnappyBlockCodec.Decompress(block, maxDecompressedBytes: 1000).Length);
    }

    [Fact]
    public void TinyBodyClaimingLargeSizeUnderLimit_FailsWithoutAllocatingIt()
    {
        // 30 MiB announced, 3 bytes to expand from: no snappy block can do that.
        var body = new RawProto().Varint(30 * 1024 * 1024).Raw(0x00, 0x41, 0x42).ToArray();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<RemoteWriteFormatException>(() => SnappyBlockCodec.DecompressPooled(body));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(RemoteWriteFormatError.Truncated, error.Error);
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes");
    }

    [Theory]
    [InlineData(new byte[0], RemoteWriteFormatError.NotSnappy)]
    [InlineData(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, RemoteWriteFormatError.NotSnappy)]
    [InlineData(new byte[] { 0x80, 0x80 }, RemoteWriteFormatError.NotSnappy)]
    [InlineData(new byte[] { 0x05, 0x10, 0x61 }, RemoteWriteFormatError.Truncated)]
    [InlineData(new byte[] { 0x40 }, RemoteWriteFormatError.Truncated)]
    [InlineData(new byte[] { 0x05, 0x01, 0x00, 0x00 }, RemoteWriteFormatError.NotSnappy)]
    [InlineData(new byte[] { 0x02, 0x10, 0x61, 0x62, 0x63, 0x64, 0x65 }, RemoteWriteFormatError.NotSnappy)]
    [InlineData(new byte[] { 0x04, 0x00, 0x61, 0x05, 0x20 }, RemoteWriteFormatError.CorruptSnappy)]
    public void InvalidBlock_FailsWithKind(byte[] body, RemoteWriteFormatError expected)
    {
        var error = Assert.Throws<RemoteWriteFormatException>(() => SnappyBlockCodec.Decompress(body));

        Assert.Equal(expected, error.Error);
    }

    [Fact]
    public void CutOffBody_IsReportedAsTruncatedInEveryMode()
    {
        var body = Fixtures.Read("batch-12826.snappy");

        foreach (var length in new[] { 1000, 12000, 12825 })
        {
            var cut = body.AsSpan(0, length).ToArray();
            var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.Summarize(cut));
            Assert.True(error.Error == RemoteWriteFormatError.Truncated, $"{length}: {error.Message}");
        }
    }

    [Fact]
    public void TextThatIsNeitherSnappyNorProtobuf_SaysBoth()
    {
        var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.Summarize("hello\n"u8.ToArray()));

        Assert.StartsWith("not a snappy block, and not a valid raw protobuf message either: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecompressPooled_ExposesExactlyTheMessage()
    {
        var body = Fixtures.Read("batch-12826.snappy");

        var owner = SnappyBlockCodec.DecompressPooled(body);
        var length = owner.Memory.Length;
        owner.Dispose();
        owner.Dispose();

        Assert.Equal(71425, length);
        Assert.Throws<ObjectDisposedException>(() => owner.Memory);
    }

    [Fact]
    public void DecompressIntoSmallDestination_Throws()
    {
        var block = SnappyBlockCodec.Compress(new byte[100]);

        Assert.Throws<ArgumentException>(() => SnappyBlockCodec.Decompress(block, new byte[99]));
        Assert.Equal(100, SnappyBlockCodec.Decompress(block, new byte[150]));
    }

    [Fact]
    public void LooksLikeBlock_TellsFixturesFromTheirRawMessages()
    {
        foreach (var name in Fixtures.Names)
        {
            Assert.True(SnappyBlockCodec.LooksLikeBlock(Fixtures.Read(name)), name);
            Assert.False(SnappyBlockCodec.LooksLikeBlock(Fixtures.ReadUncompressed(name)), name);
        }

        Assert.False(SnappyBlockCodec.LooksLikeBlock(FramedBody));
        Assert.False(SnappyBlockCodec.LooksLikeBlock([]));
        Assert.True(SnappyBlockCodec.LooksLikeBlock([0x00]));
    }
}
