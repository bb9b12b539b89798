using Google.Protobuf;

namespace FastProxy.Protocol.Tests;

public sealed class RemoteWriteMessagesTests
{
    [Fact]
    public void ParseV1_ReadsRealBody()
    {
        var request = RemoteWriteMessages.ParseV1(Fixtures.ReadUncompressed("batch-48495.snappy"));

        Assert.Equal(2000, request.Timeseries.Count);
    }

    [Fact]
    public void ParseV1OfTruncatedBody_NamesTheField()
    {
        var message = Fixtures.ReadUncompressed("batch-12826.snappy");

        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteMessages.ParseV1(message.AsSpan(0, message.Length - 3)));

        Assert.Equal(RemoteWriteFormatError.Truncated, error.Error);
        Assert.NotNull(error.Field);
    }

    [Fact]
    public void ParseV1OfDamagedSeries_ReportsTheWireReadersLocation()
    {
        // The top level is intact, so Google.Protobuf is the one that fails; its message names
        // no field, so the wire reader locates the damage.
        var message = new RawProto().Message(1, new RawProto().Tag(1, 2).Varint(50)).ToArray();

        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteMessages.ParseV1(message));

        Assert.Equal(RemoteWriteFormatError.Truncated, error.Error);
        Assert.Equal("prometheus.TimeSeries.labels", error.Field);
        Assert.Equal(0, error.SeriesIndex);
        Assert.IsType<InvalidProtocolBufferException>(error.InnerException);
    }

    [Fact]
    public void ParseV1OfV2Body_FailsAsWrongMessageType()
    {
        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteMessages.ParseV1(TestMessages.V2Request().ToByteArray()));

        Assert.Equal(RemoteWriteFormatError.WrongMessageType, error.Error);
    }

    [Fact]
    public void ParseV2_RoundTrips()
    {
        var request = TestMessages.V2Request();

        Assert.Equal(request, RemoteWriteMessages.ParseV2(request.ToByteArray()));
    }

    [Fact]
    public void ParseV2OfV1Body_FailsAsWrongMessageType()
    {
        var error = Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteMessages.ParseV2(Fixtures.ReadUncompressed("batch-9402.snappy")));

        Assert.Equal(RemoteWriteFormatError.WrongMessageType, error.Error);
        Assert.Contains("remote-write 1.0", error.Message, StringComparison.Ordinal);
    }
}
