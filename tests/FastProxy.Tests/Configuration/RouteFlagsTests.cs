using FastProxy.Configuration;
using static FastProxy.Tests.Support.ExampleEndpoints;

namespace FastProxy.Tests.Configuration;

/// <summary>--route: the routes file's form on the command line, checked by the same rules.</summary>
public sealed class RouteFlagsTests : IDisposable
{
    private const string WriteUrl = Ingest + "/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24";

    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-route-flags-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static ConfigurationResult Load(string[] routes, params (string Name, string Value)[] extra)
    {
        var environment = new Dictionary<string, string> { ["IDENTITY_TYPE"] = "systemassigned" };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        return new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault, routes).Load();
    }

    [Fact]
    public void Flags_GiveTheSameRoutesAsTheRoutesFile()
    {
        var path = Path.Combine(_directory, "routes.json");
        File.WriteAllText(path, $$$"""
            {"routes":[{"name":"write","path":"/api/v1/write","target":"{{{WriteUrl}}}"},
                       {"name":"query","pathPrefix":"/","target":"{{{Query}}}","identity":{"type":"userassigned","clientId":"{{{ClientId}}}"}}]}
            """);
        var file = Load([], ("ROUTES_FILE", path));

        var flags = Load([
            $"name=write,path=/api/v1/write,target={WriteUrl}",
            $"name=query, pathPrefix=/, target={Query}, identity.type=userassigned, identity.clientId={ClientId}",
        ]);

        Assert.True(flags.IsValid, string.Join("\n", flags.Errors));
        Assert.Equal(file.Options!.Routes.Select(ProxyOptions.DescribeRoute), flags.Options!.Routes.Select(ProxyOptions.DescribeRoute));
        Assert.Contains("api-version=2023-04-24", flags.Options.Routes[0].Target.Base, StringComparison.Ordinal); // '=' inside a value
        Assert.Null(flags.Options.RoutesFile); // nothing to read again
    }

    [Theory]
    [InlineData(new[] { "name=a,pathPrefix=/,target=https://h", "foo" }, "--route #2 ('foo'): 'foo' is not key=value")]
    [InlineData(new[] { "name=a,pathPrefix=/,target=https://h,name=b" }, "--route #1 ('name=a,pathPrefix=/,target=https://h,name=b'): 'name' is given twice")]
    [InlineData(new[] { "name=a,pathPrefix=/,target=https://h,audeince=x" }, "--route #1: unknown field \"audeince\"")]
    [InlineData(new[] { "name=a,pathPrefix=/,target=https://h", "name=b,pathPrefix=/x,target=ftp://h" }, "--route #2 (\"b\"): target scheme 'ftp' is not supported")]
    [InlineData(new[] { "name=a,pathPrefix=/,target=https://h", "name=A,pathPrefix=/x,target=https://h" }, "--route #2 (\"A\"): name \"A\" is also the name of #1")]
    [InlineData(new[] { "name=q,pathPrefix=/,target=https://h,identity.type=userassigned" }, "--route #1 (\"q\") identity: userassigned needs exactly one of clientId")]
    public void BadFlags_AreOneClearLineEach_NamingTheFlag(string[] routes, string expected)
    {
        var result = Load(routes);

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TARGET_HOST", Ingest, "--route and TARGET_HOST are both set")]
    [InlineData("INGESTION_URL", WriteUrl, "--route and INGESTION_URL are both set")]
    [InlineData("AUDIENCE", "https://monitor.azure.com", "--route and AUDIENCE are both set")]
    [InlineData("ROUTES_FILE", "/etc/fastproxy/routes.yaml", "ROUTES_FILE and --route are both set")]
    public void FlagsWithAnotherFormOfTargets_AreAnError(string name, string value, string expected)
    {
        var result = Load([$"name=a,pathPrefix=/,target={Query}"], (name, value));

        Assert.Contains(result.Errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }
}
