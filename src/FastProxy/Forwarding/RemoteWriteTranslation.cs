using System.Buffers;
using System.IO.Pipelines;
using FastProxy.Protocol;

namespace FastProxy.Forwarding;

/// <summary>
/// Optional, explicit remote-write 2.0 → 1.0 translation for targets that accept only 1.0
/// (Azure Monitor documents only 1.0). Unlike plain forwarding it must hold the whole body to
/// decode it, so the body is bounded (the decompressed-size limit applies, 32 MiB by default) and
/// the translation is off unless asked for.
/// </summary>
internal static class RemoteWriteTranslation
{
    /// <summary>True when the request is a remote-write 2.0 body this route should translate.</summary>
    public static bool Applies(string? contentType) =>
        contentType is not null && RemoteWriteNegotiation.ParseContentType(contentType) == RemoteWriteVersion.V2;

    /// <summary>Reads the whole (bounded) body and returns the 1.0 body, snappy-compressed, and the written counts.</summary>
    public static async Task<(byte[] Body, RemoteWriteCounts Written)> TranslateAsync(PipeReader body, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        while (true)
        {
            var read = await body.ReadAsync(cancellationToken);
            if (buffer.WrittenCount + read.Buffer.Length > maxBytes)
            {
                body.AdvanceTo(read.Buffer.End);
                throw new RemoteWriteFormatException(RemoteWriteFormatError.DecompressedTooLarge,
                    $"the remote-write 2.0 body is larger than {maxBytes} bytes and cannot be translated");
            }

            foreach (var segment in read.Buffer)
            {
                buffer.Write(segment.Span);
            }

            body.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }

        var translated = RemoteWriteConverter.ConvertV2SnappyToV1Snappy(buffer.WrittenSpan, out var written, maxBytes);
        return (translated, written);
    }
}

/// <summary>A translated 1.0 body, carrying the counts owed to the 2.0 client.</summary>
internal sealed class TranslatedContent(byte[] body, RemoteWriteCounts written) : ByteArrayContent(body)
{
    public RemoteWriteCounts Written { get; } = written;
}
