namespace FastProxy.Tests.Support;

/// <summary>The real Prometheus bodies in the repository's testdata/.</summary>
internal static class Fixtures
{
    public static byte[] Read(string name) => File.ReadAllBytes(Repository.FixturePath(name));
}
