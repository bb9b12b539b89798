using System.Reflection;
using FastProxy.Protocol;

namespace FastProxy.Demo;

/// <summary>Real remote-write bodies captured from Prometheus 2.42, embedded in the binary.</summary>
internal static class DemoFixtures
{
    private const string Prefix = "fixtures/";

    public static IReadOnlyList<(string Name, byte[] Body)> Load()
    {
        var assembly = typeof(DemoFixtures).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => (n[Prefix.Length..], Read(assembly, n)))
            .ToList();
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>What the bodies that arrived hold, decoded as remote-write 1.0.</summary>
    public static string Summarize(IEnumerable<byte[]> bodies)
    {
        long series = 0, samples = 0, metadata = 0, uncompressed = 0;
        foreach (var body in bodies)
        {
            var summary = PayloadSummaryReader.SummarizeSnappy(body, RemoteWriteVersion.V1);
            series += summary.Series;
            samples += summary.Samples;
            metadata += summary.MetadataEntries;
            uncompressed += summary.UncompressedBytes;
        }

        return $"decoded at the receiver: {series:N0} series, {samples:N0} samples, {metadata:N0} metadata entries ({uncompressed:N0} bytes uncompressed)";
    }
}
