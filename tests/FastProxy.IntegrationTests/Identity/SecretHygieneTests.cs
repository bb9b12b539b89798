using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>Tokens and identity secrets never reach FastProxy's own output, whatever happens.</summary>
public sealed class SecretHygieneTests
{
    private static void AssertAbsent(ProxyProcess proxy, IEnumerable<string> secrets)
    {
        var output = proxy.Stdout + "\n" + proxy.Stderr;
        Assert.False(string.IsNullOrWhiteSpace(proxy.Stdout), "no log output was captured, so the check would prove nothing");
        foreach (var secret in secrets)
        {
            Assert.False(output.Contains(secret, StringComparison.Ordinal), $"a secret ({secret[..12]}…) appears in FastProxy's output");
        }
    }

    /// <summary>Failures (an error, a malformed answer that carries a token), then tokens and traffic, at the most verbose log level.</summary>
    [Fact]
    public async Task ImdsFailingThenIssuing_NoTokenInTheOutput()
    {
        await using var imds = await FakeImds.StartAsync();
        imds.Mode = TokenEndpointMode.IdentityNotFound;
        imds.TokenLifetime = TimeSpan.FromSeconds(6);
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["LOG_LEVEL"] = "trace",
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "50",
        });

        await imds.WaitForFailuresAsync(1, TimeSpan.FromSeconds(30));
        imds.Mode = TokenEndpointMode.MalformedExpiry;
        await imds.WaitForFailuresAsync(2, TimeSpan.FromSeconds(30));
        imds.Mode = TokenEndpointMode.Succeed;
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));
        for (var i = 0; imds.IssuedTokens.Count < 2 && i < 200; i++)
        {
            using var response = await proxy.PostRemoteWriteAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // Paced traffic across one refresh (3 s): bounded by the loop count.
            await Task.Delay(50);
        }

        proxy.Process.Terminate();
        await proxy.Process.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(imds.IssuedTokens.Count >= 2, "the token was not refreshed during the run");
        AssertAbsent(proxy.Process, [.. imds.IssuedTokens, .. imds.LeakBait]);
    }

    [Fact]
    public async Task AppServiceFailingThenIssuing_NeitherTokenNorIdentityHeaderInTheOutput()
    {
        await using var endpoint = await FakeAppServiceIdentity.StartAsync();
        endpoint.Mode = TokenEndpointMode.MalformedExpiry;
        await using var proxy = await ChildProxy.StartWithAppServiceAsync(endpoint, new Dictionary<string, string?>
        {
            ["LOG_LEVEL"] = "trace",
        });

        await endpoint.WaitForFailuresAsync(1, TimeSpan.FromSeconds(30));
        endpoint.Mode = TokenEndpointMode.Succeed;
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));
        using (var response = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        proxy.Process.Terminate();
        await proxy.Process.WaitForExitAsync(TimeSpan.FromSeconds(30));

        AssertAbsent(proxy.Process, [.. endpoint.IssuedTokens, .. endpoint.LeakBait, endpoint.Secret]);
    }
}
