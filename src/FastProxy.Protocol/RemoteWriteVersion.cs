namespace FastProxy.Protocol;

/// <summary>The remote-write protocol version of a request body.</summary>
public enum RemoteWriteVersion
{
    /// <summary>Not known: not negotiated yet, or not a supported remote-write message.</summary>
    Unknown = 0,

    /// <summary>Remote write 1.0: <c>prometheus.WriteRequest</c>.</summary>
    V1 = 1,

    /// <summary>Remote write 2.0: <c>io.prometheus.write.v2.Request</c>, with a symbols table.</summary>
    V2 = 2,
}
