namespace FastProxy.Protocol;

/// <summary>Works out which remote-write version a request carries from its headers.</summary>
/// <remarks>
/// The 2.0 specification makes Content-Type authoritative: <c>application/x-protobuf</c> with no
/// <c>proto</c> parameter means 1.0, and the version header is informational. Only when
/// Content-Type is absent does <see cref="RemoteWriteHeaders.VersionHeader"/> decide (a value
/// starting with <c>2.</c> means 2.0; anything else, or nothing, means 1.0 as in Prometheus).
/// </remarks>
public static class RemoteWriteNegotiation
{
    /// <summary>Negotiates the version of a request.</summary>
    /// <param name="contentType">The Content-Type header, or <c>null</c> when absent.</param>
    /// <param name="versionHeader">The <see cref="RemoteWriteHeaders.VersionHeader"/> value, or <c>null</c>.</param>
    /// <returns>
    /// The version, or <see cref="RemoteWriteVersion.Unknown"/> when the media type is not
    /// protobuf or names another message (a receiver answers 415 Unsupported Media Type).
    /// </returns>
    public static RemoteWriteVersion Negotiate(string? contentType, string? versionHeader)
    {
        if (!string.IsNullOrWhiteSpace(contentType))
        {
            return ParseContentType(contentType);
        }

        return versionHeader is not null && versionHeader.AsSpan().Trim().StartsWith("2.", StringComparison.Ordinal)
            ? RemoteWriteVersion.V2
            : RemoteWriteVersion.V1;
    }

    /// <summary>Reads the version from a Content-Type value alone.</summary>
    /// <param name="contentType">For example <c>application/x-protobuf;proto=io.prometheus.write.v2.Request</c>.</param>
    /// <returns>
    /// <see cref="RemoteWriteVersion.V1"/> for <c>application/x-protobuf</c> without a <c>proto</c>
    /// parameter or with <c>proto=prometheus.WriteRequest</c>; <see cref="RemoteWriteVersion.V2"/>
    /// for <c>proto=io.prometheus.write.v2.Request</c>; otherwise <see cref="RemoteWriteVersion.Unknown"/>.
    /// Media type and parameter names are case-insensitive (RFC 9110 §8.3.1); the message name is not.
    /// </returns>
    public static RemoteWriteVersion ParseContentType(ReadOnlySpan<char> contentType)
    {
        var separator = contentType.IndexOf(';');
        var mediaType = (separator < 0 ? contentType : contentType[..separator]).Trim();
        if (!mediaType.Equals(RemoteWriteHeaders.ProtobufMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return RemoteWriteVersion.Unknown;
        }

        var version = RemoteWriteVersion.V1;
        var parameters = separator < 0 ? ReadOnlySpan<char>.Empty : contentType[(separator + 1)..];
        while (!parameters.IsEmpty)
        {
            var end = parameters.IndexOf(';');
            var parameter = (end < 0 ? parameters : parameters[..end]).Trim();
            parameters = end < 0 ? ReadOnlySpan<char>.Empty : parameters[(end + 1)..];

            var equals = parameter.IndexOf('=');
            if (equals < 0 || !parameter[..equals].Trim().Equals("proto", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var value = parameter[(equals + 1)..].Trim();
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            {
                value = value[1..^1];
            }

            if (value.SequenceEqual(RemoteWriteHeaders.ProtoV1))
            {
                version = RemoteWriteVersion.V1;
            }
            else if (value.SequenceEqual(RemoteWriteHeaders.ProtoV2))
            {
                version = RemoteWriteVersion.V2;
            }
            else
            {
                return RemoteWriteVersion.Unknown;
            }
        }

        return version;
    }
}
