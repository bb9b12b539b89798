namespace FastProxy.Protocol.Tests;

public sealed class RemoteWriteNegotiationTests
{
    [Theory]
    [InlineData("application/x-protobuf", null, RemoteWriteVersion.V1)]
    [InlineData("application/x-protobuf;proto=prometheus.WriteRequest", null, RemoteWriteVersion.V1)]
    [InlineData("application/x-protobuf;proto=io.prometheus.write.v2.Request", null, RemoteWriteVersion.V2)]
    [InlineData("application/x-protobuf; proto=io.prometheus.write.v2.Request", "2.0.0", RemoteWriteVersion.V2)]
    [InlineData("Application/X-Protobuf;PROTO=io.prometheus.write.v2.Request", null, RemoteWriteVersion.V2)]
    [InlineData("application/x-protobuf;proto=\"io.prometheus.write.v2.Request\"", null, RemoteWriteVersion.V2)]
    [InlineData("application/x-protobuf;charset=utf-8;proto=io.prometheus.write.v2.Request", null, RemoteWriteVersion.V2)]
    [InlineData(" application/x-protobuf ; proto = prometheus.WriteRequest ", null, RemoteWriteVersion.V1)]
    [InlineData("application/x-protobuf;proto=io.prometheus.write.v2.request", null, RemoteWriteVersion.Unknown)]
    [InlineData("application/x-protobuf;proto=prometheus.ReadRequest", null, RemoteWriteVersion.Unknown)]
    [InlineData("application/json", null, RemoteWriteVersion.Unknown)]
    [InlineData("text/plain;proto=prometheus.WriteRequest", null, RemoteWriteVersion.Unknown)]
    [InlineData("application/x-protobuf", "2.0.0", RemoteWriteVersion.V1)]
    [InlineData(null, null, RemoteWriteVersion.V1)]
    [InlineData(null, "0.1.0", RemoteWriteVersion.V1)]
    [InlineData(null, "2.0.0", RemoteWriteVersion.V2)]
    [InlineData("", " 2.0.0", RemoteWriteVersion.V2)]
    [InlineData("  ", "garbage", RemoteWriteVersion.V1)]
    public void Negotiate_MapsHeadersToVersion(string? contentType, string? versionHeader, RemoteWriteVersion expected)
    {
        Assert.Equal(expected, RemoteWriteNegotiation.Negotiate(contentType, versionHeader));
    }

    [Theory]
    [InlineData(RemoteWriteVersion.V1, "application/x-protobuf", "0.1.0")]
    [InlineData(RemoteWriteVersion.V2, "application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0")]
    public void HeaderValues_MatchTheSpecifications(RemoteWriteVersion version, string contentType, string versionHeader)
    {
        Assert.Equal(contentType, RemoteWriteHeaders.ContentTypeFor(version));
        Assert.Equal(versionHeader, RemoteWriteHeaders.VersionFor(version));
        Assert.Equal(version, RemoteWriteNegotiation.Negotiate(RemoteWriteHeaders.ContentTypeFor(version), RemoteWriteHeaders.VersionFor(version)));
    }

    [Fact]
    public void UnknownVersion_HasNoHeaderValues()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RemoteWriteHeaders.ContentTypeFor(RemoteWriteVersion.Unknown));
        Assert.Throws<ArgumentOutOfRangeException>(() => RemoteWriteHeaders.VersionFor(RemoteWriteVersion.Unknown));
    }

    [Theory]
    [InlineData(RemoteWriteHeaders.SamplesWrittenHeader, "X-Prometheus-Remote-Write-Samples-Written")]
    [InlineData(RemoteWriteHeaders.HistogramsWrittenHeader, "X-Prometheus-Remote-Write-Histograms-Written")]
    [InlineData(RemoteWriteHeaders.ExemplarsWrittenHeader, "X-Prometheus-Remote-Write-Exemplars-Written")]
    [InlineData(RemoteWriteHeaders.VersionHeader, "X-Prometheus-Remote-Write-Version")]
    [InlineData(RemoteWriteHeaders.SnappyEncoding, "snappy")]
    public void HeaderNames_AreTheSpecifiedOnes(string actual, string expected)
    {
        Assert.Equal(expected, actual);
    }
}
