using System.Runtime.CompilerServices;

namespace FastProxy.Tests.Support;

/// <summary>The real Prometheus bodies in the repository's testdata/.</summary>
internal static class Fixtures
{
    public static byte[] Read(string name, [CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile)! })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var candidate = Path.Combine(directory.FullName, "testdata", "remote-write", "prometheus-2.42", name);
                if (File.Exists(candidate))
                {
                    return File.ReadAllBytes(candidate);
                }
            }
        }

        throw new FileNotFoundException($"fixture {name} not found above the test output or the test source");
    }
}
