using FastProxy.Protocol;
using SharpFuzz;

namespace FastProxy.Protocol.Fuzz;

/// <summary>
/// The AFL target: every public reader of FastProxy.Protocol gets the input, and any exception
/// other than <see cref="RemoteWriteFormatException"/> escapes and counts as a crash.
/// </summary>
internal static class Program
{
    // Small limits keep each execution fast; the size checks themselves are what is exercised.
    private const int MaxDecompressedBytes = 1024 * 1024;

    public static void Main(string[] args)
    {
        if (args is ["--seeds", var directory])
        {
            Seeds.Write(directory);
            return;
        }

        if (args is ["--replay", .. var files])
        {
            // Runs crash files without AFL, so a finding can be seen with its stack trace.
            foreach (var file in files)
            {
                Console.WriteLine(file);
                Exercise(File.ReadAllBytes(file));
            }

            return;
        }

        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            Exercise(buffer.ToArray());
        });
    }

    private static void Exercise(byte[] input)
    {
        foreach (var compression in (ReadOnlySpan<PayloadCompression>)[PayloadCompression.Auto, PayloadCompression.None, PayloadCompression.Snappy])
        {
            Expect(() => PayloadSummaryReader.Summarize(input, new PayloadSummaryOptions
            {
                Compression = compression,
                MaxDecompressedBytes = MaxDecompressedBytes,
            }));
        }

        Expect(() => PayloadSummaryReader.SummarizeProtobuf(input, RemoteWriteVersion.V2));
        Expect(() => RemoteWriteMessages.ParseV1(input));
        Expect(() => RemoteWriteConverter.ConvertV2ToV1(input));
        Expect(() => RemoteWriteConverter.ConvertV2SnappyToV1Snappy(input, out _, MaxDecompressedBytes));
        Expect(() => SnappyBlockCodec.Decompress(input, MaxDecompressedBytes));
    }

    private static void Expect(Action read)
    {
        try
        {
            read();
        }
        catch (RemoteWriteFormatException)
        {
            // The one failure the library promises.
        }
    }
}
