namespace FastProxy.Protocol;

/// <summary>Header names and values defined by the Prometheus remote-write specifications.</summary>
public static class RemoteWriteHeaders
{
    /// <summary>The header that carries the remote-write protocol version.</summary>
    public const string VersionHeader = "X-Prometheus-Remote-Write-Version";

    /// <summary>The version value sent by remote-write 1.0 clients.</summary>
    public const string Version1 = "0.1.0";

    /// <summary>The version value sent by remote-write 2.0 clients.</summary>
    public const string Version2 = "2.0.0";

    /// <summary>The media type of every remote-write body, before parameters.</summary>
    public const string ProtobufMediaType = "application/x-protobuf";

    /// <summary>The <c>proto</c> parameter value naming the 1.0 message.</summary>
    public const string ProtoV1 = "prometheus.WriteRequest";

    /// <summary>The <c>proto</c> parameter value naming the 2.0 message.</summary>
    public const string ProtoV2 = "io.prometheus.write.v2.Request";

    /// <summary>
    /// The Content-Type sent with 1.0 bodies. 1.0 clients send the bare media type, and 1.0
    /// receivers that predate 2.0 may not accept a <c>proto</c> parameter, so none is added.
    /// </summary>
    public const string ContentTypeV1 = ProtobufMediaType;

    /// <summary>The Content-Type sent with 2.0 bodies.</summary>
    public const string ContentTypeV2 = ProtobufMediaType + ";proto=" + ProtoV2;

    /// <summary>The Content-Encoding of every remote-write body: the snappy block format.</summary>
    public const string SnappyEncoding = "snappy";

    /// <summary>The 2.0 response header: how many float samples the receiver wrote.</summary>
    public const string SamplesWrittenHeader = "X-Prometheus-Remote-Write-Samples-Written";

    /// <summary>The 2.0 response header: how many native histogram samples the receiver wrote.</summary>
    public const string HistogramsWrittenHeader = "X-Prometheus-Remote-Write-Histograms-Written";

    /// <summary>The 2.0 response header: how many exemplars the receiver wrote.</summary>
    public const string ExemplarsWrittenHeader = "X-Prometheus-Remote-Write-Exemplars-Written";

    /// <summary>The Content-Type value for a body of the given version.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="version"/> is <see cref="RemoteWriteVersion.Unknown"/>.</exception>
    public static string ContentTypeFor(RemoteWriteVersion version) => version switch
    {
        RemoteWriteVersion.V1 => ContentTypeV1,
        RemoteWriteVersion.V2 => ContentTypeV2,
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, "Only 1.0 and 2.0 have a Content-Type."),
    };

    /// <summary>The <see cref="VersionHeader"/> value for a body of the given version.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="version"/> is <see cref="RemoteWriteVersion.Unknown"/>.</exception>
    public static string VersionFor(RemoteWriteVersion version) => version switch
    {
        RemoteWriteVersion.V1 => Version1,
        RemoteWriteVersion.V2 => Version2,
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, "Only 1.0 and 2.0 have a version header value."),
    };
}
