using System.Text.Json;

namespace FastProxy.Protocol.Tests;

/// <summary>The real Prometheus 2.42 bodies under testdata/ and the expected summaries from their README.</summary>
internal static class Fixtures
{
    public const string Folder = "testdata/remote-write/prometheus-2.42";

    public static readonly string[] Names =
    [
        "batch-12826.snappy",
        "batch-48495.snappy",
        "batch-48727.snappy",
        "batch-49061.snappy",
        "batch-49264.snappy",
        "batch-9402.snappy",
        "batch-9413.snappy",
    ];

    private static readonly Lazy<IReadOnlyDictionary<string, Expected>> ExpectedByName = new(LoadExpected);

    public static TheoryData<string> All => [.. Names];

    public static byte[] Read(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, Folder, name));

    public static byte[] ReadUncompressed(string name) => SnappyBlockCodec.Decompress(Read(name));

    public static Expected ExpectedFor(string name) => ExpectedByName.Value[name];

    private static Dictionary<string, Expected> LoadExpected()
    {
        // The README's summaries are one JSON object per line inside a fenced block.
        var result = new Dictionary<string, Expected>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, Folder, "README.md")))
        {
            if (!line.StartsWith("{\"file\"", StringComparison.Ordinal))
            {
                continue;
            }

            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            var expected = new Expected(
                root.GetProperty("file").GetString()!,
                root.GetProperty("compressed_bytes").GetInt64(),
                root.GetProperty("uncompressed_bytes").GetInt64(),
                root.GetProperty("series").GetInt32(),
                root.GetProperty("samples").GetInt64(),
                root.GetProperty("exemplars").GetInt64(),
                root.GetProperty("histograms").GetInt64(),
                root.GetProperty("metadata").GetInt32(),
                root.GetProperty("metric_names").GetInt32(),
                NullableLong(root.GetProperty("min_timestamp_ms")),
                NullableLong(root.GetProperty("max_timestamp_ms")));
            result.Add(expected.File, expected);
        }

        return result;
    }

    private static long? NullableLong(JsonElement element) =>
        element.ValueKind == JsonValueKind.Null ? null : element.GetInt64();

    public sealed record Expected(
        string File,
        long CompressedBytes,
        long UncompressedBytes,
        int Series,
        long Samples,
        long Exemplars,
        long Histograms,
        int Metadata,
        int MetricNames,
        long? MinTimestampMs,
        long? MaxTimestampMs);
}
