using FastProxy.Configuration;
using FastProxy.Tests.Support;

namespace FastProxy.Tests.Cli;

public sealed class DocumentationTests
{
    private static string RepositoryFile(string name) => Repository.ReadText(name);

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
