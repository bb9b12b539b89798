using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>The request target reaches the target byte for byte, behind any TARGET_HOST prefix.</summary>
public sealed class PathAndQueryTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public static TheoryData<string> Targets =>
    [
        "/api/v1/write",
        "/api/v1/query?query=up&time=1700000000.123",
        "/a%2Fb/c%2fd?x=%7E&y=a+b&z=%2B%20%25",
        "/api/v1/label/__name__/values?match[]=up%7Bjob%3D%22node%22%7D",
        "/a/../b/./c?q=..",
        "/%7Euser/caf%C3%A9/%E2%82%AC?s=%E2%82%AC&empty=&flag",
        "/trailing/slash/?",
        "//double//slashes",
    ];

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task RequestTarget_ReachesTargetByteForByte(string target)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);

        var status = await RawHttp.SendAsync(proxy.Port, "GET", target, Cancel);

        Assert.Equal(200, status);
        Assert.Equal(target, Assert.Single(upstream.Requests).RawTarget);
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task TargetHostPathPrefix_IsPrependedToTheUntouchedTarget(string target)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl + "/prefix/with%20space/");
        upstream.AcceptToken(proxy.Token);

        var status = await RawHttp.SendAsync(proxy.Port, "POST", target, Cancel);

        Assert.Equal(200, status);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("POST", seen.Method);
        Assert.Equal("/prefix/with%20space" + target, seen.RawTarget);
    }

    [Fact]
    public async Task IngestionUrl_ReceivesRemoteWriteAtItsFullPathAndQuery()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        const string IngestionPath =
            "/dataCollectionRules/dcr-0123456789abcdef0123456789abcdef/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24";
        await using var proxy = await InProcessProxy.StartAsync(new Dictionary<string, string>
        {
            ["INGESTION_URL"] = upstream.BaseUrl + IngestionPath,
        });
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = Fixtures.RemoteWrite()[0].Body;

        using var write = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(body), Cancel);
        var other = await RawHttp.SendAsync(proxy.Port, "GET", "/api/v1/status/buildinfo?x=%2F", Cancel);

        Assert.Equal(System.Net.HttpStatusCode.OK, write.StatusCode);
        Assert.Equal(200, other);
        var requests = upstream.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal(IngestionPath, requests[0].RawTarget);
        Assert.True(body.AsSpan().SequenceEqual(requests[0].Body), "remote-write body changed on the way");
        Assert.Equal("/api/v1/status/buildinfo?x=%2F", requests[1].RawTarget);
    }
}
