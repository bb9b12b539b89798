using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Identity;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Tests.Forwarding;

public sealed class RouteTableTests
{
    private static ProxyRoute RouteFor(TargetAddress target, string? exactPath = null) =>
        new(new RouteDefinition("r", exactPath, target, Audience.IngestionScope),
            new TokenSource("s", Audience.IngestionScope, new Support.ScriptedCredential(), 10, TimeProvider.System, NullLogger.Instance));

    private static ProxyRoute PrefixRoute(string prefix) =>
        new(new RouteDefinition(prefix, null, Host("h"), Audience.IngestionScope) { PathPrefix = prefix },
            new TokenSource("s", Audience.IngestionScope, new Support.ScriptedCredential(), 10, TimeProvider.System, NullLogger.Instance));

    private static TargetAddress Host(string value) => TargetAddress.ParseTargetHost(value, out _)!;

    [Theory]
    [InlineData("example.com", "/api/v1/write", "https://example.com/api/v1/write")]
    [InlineData("example.com/prefix", "/api/v1/query?query=up%7Bjob%3D%22a%22%7D&time=1", "https://example.com/prefix/api/v1/query?query=up%7Bjob%3D%22a%22%7D&time=1")]
    [InlineData("http://h:9090", "/a/../b/%2F/c?x=1+2", "http://h:9090/a/../b/%2F/c?x=1+2")]
    [InlineData("http://h:9090/p/", "/", "http://h:9090/p/")]
    public void PrefixRoute_AppendsTheRawTargetByteForByte(string targetHost, string rawTarget, string expected) =>
        Assert.Equal(expected, RouteFor(Host(targetHost)).BuildTargetUrl(rawTarget));

    [Theory]
    [InlineData("/api/v1/write", "https://h/dcr/api/v1/write?api-version=2023-04-24")]
    [InlineData("/api/v1/write?", "https://h/dcr/api/v1/write?api-version=2023-04-24")]
    [InlineData("/api/v1/write?tenant=a", "https://h/dcr/api/v1/write?api-version=2023-04-24&tenant=a")]
    public void ExactRoute_UsesTheConfiguredUrlAndKeepsTheClientsQuery(string rawTarget, string expected)
    {
        var target = TargetAddress.ParseIngestionUrl("https://h/dcr/api/v1/write?api-version=2023-04-24", out _)!;

        Assert.Equal(expected, RouteFor(target, "/api/v1/write").BuildTargetUrl(rawTarget));
    }

    [Fact]
    public void ExactRouteWithoutQuery_GetsTheClientsQueryAfterAQuestionMark()
    {
        var target = TargetAddress.ParseIngestionUrl("http://h/write", out _)!;

        Assert.Equal("http://h/write?x=1", RouteFor(target, "/api/v1/write").BuildTargetUrl("/api/v1/write?x=1"));
    }

    [Fact]
    public void Match_PrefersExactPathsAndFallsBack()
    {
        var ingestion = RouteFor(TargetAddress.ParseIngestionUrl("https://h/dcr/write", out _)!, "/api/v1/write");
        var fallback = RouteFor(Host("h"));
        var table = new RouteTable([fallback, ingestion]);

        Assert.Same(ingestion, table.Match("/api/v1/write"));
        Assert.Same(ingestion, table.Match("/api/v1/write?x=1"));
        Assert.Same(fallback, table.Match("/api/v1/writex"));
        Assert.Same(fallback, table.Match("/API/V1/WRITE"));
        Assert.Same(fallback, table.Match("/api/v1/query"));
    }

    [Fact]
    public void Match_TakesTheLongestPrefix_CaseSensitively()
    {
        var root = PrefixRoute("/");
        var api = PrefixRoute("/api/v1/");
        var query = PrefixRoute("/api/v1/query");
        var dcr = PrefixRoute("/dataCollectionRules/");
        var table = new RouteTable([root, api, query, dcr]);

        Assert.Same(query, table.Match("/api/v1/query"));
        Assert.Same(query, table.Match("/api/v1/query_range?query=up"));
        Assert.Same(api, table.Match("/api/v1/labels"));
        Assert.Same(api, table.Match("/api/v1/"));
        Assert.Same(root, table.Match("/api/v1")); // shorter than the prefix
        Assert.Same(root, table.Match("/API/V1/query"));
        Assert.Same(dcr, table.Match("/dataCollectionRules/dcr-1/streams/s/api/v1/write?api-version=2023-04-24"));
        Assert.Same(root, table.Match("/datacollectionrules/dcr-1"));
        // The query string never takes part: a prefix-looking query does not match.
        Assert.Same(root, table.Match("/x?/api/v1/query"));
    }

    [Fact]
    public void Match_ExactBeatsPrefix_AndNoCatchAllMeansNull()
    {
        var exact = RouteFor(TargetAddress.ParseIngestionUrl("https://h/dcr/write", out _)!, "/api/v1/write");
        var api = PrefixRoute("/api/v1/");
        var table = new RouteTable([api, exact]);

        Assert.Same(exact, table.Match("/api/v1/write?x=1"));
        Assert.Same(api, table.Match("/api/v1/write/more"));
        Assert.Null(table.Match("/metrics"));
        Assert.Null(table.Match("/"));
    }

    [Fact]
    public void PrefixRoute_AppendsTheWholePath_NotStripped() =>
        Assert.Equal("https://h/api/v1/query?query=up", PrefixRoute("/api/v1/").BuildTargetUrl("/api/v1/query?query=up"));

    [Fact]
    public void Match_DoesNotAllocate()
    {
        var table = new RouteTable([PrefixRoute("/"), PrefixRoute("/api/v1/"), PrefixRoute("/api/v1/query"),
            RouteFor(TargetAddress.ParseIngestionUrl("https://h/dcr/write", out _)!, "/api/v1/write")]);
        const string target = "/api/v1/query_range?query=up&start=1";
        table.Match(target);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            table.Match(target);
            table.Match("/other");
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
