using FastProxy.Configuration;

namespace FastProxy.Tests.Cli;

public sealed class DocumentationTests
{
    private static string RepositoryFile(string name, [System.Runtime.CompilerServices.CallerFilePath] string thisFile = "")
    {
        // From the test output when it lies inside the repository, else from this source file
        // (builds with --artifacts-path put the output elsewhere).
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(thisFile)! })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "FastProxy.sln")))
                {
                    return File.ReadAllText(Path.Combine(directory.FullName, name));
                }
            }
        }

        throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void Readme_DocumentsEveryEnvironmentVariableAndFlag()
    {
        var readme = RepositoryFile("README.md");

        Assert.All(Settings.All, setting =>
        {
            Assert.Contains($"`{setting.EnvironmentVariables[0]}`", readme, StringComparison.Ordinal);
            Assert.Contains($"`{setting.OptionName}`", readme, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Readme_FirstScreenHasTheDemoAndTestCommands()
    {
        var firstScreen = string.Join("\n", RepositoryFile("README.md").Split('\n').Take(25));

        Assert.Contains("dotnet run --project src/FastProxy -- demo", firstScreen, StringComparison.Ordinal);
        Assert.Contains("dotnet test FastProxy.sln", firstScreen, StringComparison.Ordinal);
    }

    [Fact]
    public void CiScript_RunsTheReadmesTestCommand()
    {
        Assert.Contains("dotnet test FastProxy.sln", RepositoryFile(".ci/run"), StringComparison.Ordinal);
    }
}
