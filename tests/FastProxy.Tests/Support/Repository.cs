using System.Runtime.CompilerServices;

namespace FastProxy.Tests.Support;

/// <summary>
/// The repository checkout the tests read files from. Found above the test output (an in-tree
/// build), the working directory, or this source file (builds with --artifacts-path put the
/// output outside the tree).
/// </summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string ReadText(string relative) => File.ReadAllText(PathOf(relative));

    /// <summary>A real Prometheus body in testdata/remote-write/prometheus-2.42/.</summary>
    public static string FixturePath(string name) => PathOf(Path.Combine("testdata", "remote-write", "prometheus-2.42", name));

    private static string FindRoot([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in (string?[])[AppContext.BaseDirectory, Directory.GetCurrentDirectory(), Path.GetDirectoryName(sourceFile)])
        {
            for (var directory = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "FastProxy.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new InvalidOperationException($"FastProxy.sln not found above {AppContext.BaseDirectory}, the working directory or {sourceFile}");
    }
}
