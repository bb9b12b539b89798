using FastProxy.Configuration;
using FastProxy.Forwarding;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Forwarding;

public sealed class UpstreamStatusPolicyTests
{
    private static ProxyOptions Options(bool throttlingAs503, TimeSpan authWindow) => new()
    {
        Routes = [],
        Identity = new IdentityOptions(IdentityType.SystemAssigned, null),
        Upstream429As503 = throttlingAs503,
        UpstreamAuthErrorsAs503 = authWindow,
    };

    [Theory]
    [InlineData(200, 200)]
    [InlineData(204, 204)]
    [InlineData(400, 400)]
    [InlineData(413, 413)]
    [InlineData(429, 503)]
    [InlineData(401, 503)]
    [InlineData(403, 503)]
    [InlineData(500, 500)]
    [InlineData(503, 503)]
    public void Defaults_TurnOnlyRetryableRefusalsInto503(int upstream, int client)
    {
        var policy = new UpstreamStatusPolicy(Options(true, TimeSpan.FromMinutes(30)), new FakeTimeProvider());

        Assert.Equal(client, policy.StatusFor(upstream));
    }

    [Fact]
    public void AuthErrors_AreRelayedOnceTheStartupWindowHasPassed()
    {
        var time = new FakeTimeProvider();
        var policy = new UpstreamStatusPolicy(Options(true, TimeSpan.FromMinutes(30)), time);

        time.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(503, policy.StatusFor(403));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(403, policy.StatusFor(403));
        Assert.Equal(401, policy.StatusFor(401));
        Assert.Equal(503, policy.StatusFor(429));
    }

    [Fact]
    public void BothTranslationsOff_RelayEverythingUnchanged()
    {
        var policy = new UpstreamStatusPolicy(Options(false, TimeSpan.Zero), new FakeTimeProvider());

        Assert.Equal(429, policy.StatusFor(429));
        Assert.Equal(401, policy.StatusFor(401));
        Assert.Equal(403, policy.StatusFor(403));
    }
}
