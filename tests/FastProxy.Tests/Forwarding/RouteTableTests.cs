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
}
