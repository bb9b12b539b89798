using System.Net;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// The real ManagedIdentityCredential (Azure.Identity + MSAL) in a FastProxy child process against
/// a fake IMDS: request shape, failure at start-up with recovery, and no restart needed.
/// </summary>
public sealed class ImdsIdentityTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SystemAssigned_AsksImdsForTheIngestionResource()
    {
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds);

        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);
        using var response = await proxy.PostRemoteWriteAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = imds.Requests[0];
        Assert.Equal("GET", request.Method);
        Assert.Equal("/metadata/identity/oauth2/token", request.Path);
        Assert.Equal("true", request.HeaderValue("Metadata"));
        Assert.Equal("https://monitor.azure.com", request.QueryValue("resource"));
        Assert.False(string.IsNullOrEmpty(request.QueryValue("api-version")));
        Assert.Null(request.QueryValue("client_id"));
        Assert.Null(request.QueryValue("scope"));
        Assert.Equal(["Bearer " + imds.IssuedTokens[0]], proxy.Upstream.TokensSeen);
    }

    [Fact]
    public async Task UserAssigned_SendsClientIdToImds()
    {
        const string ClientId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["IDENTITY_TYPE"] = "UserAssigned",
            ["AAD_CLIENT_ID"] = ClientId,
            ["AUDIENCE"] = "https://prometheus.monitor.azure.com/",
        });

        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);
        using var response = await proxy.Client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = imds.Requests[0];
        Assert.Equal(ClientId, request.QueryValue("client_id"));
        Assert.Equal("https://prometheus.monitor.azure.com", request.QueryValue("resource"));
        Assert.Equal("true", request.HeaderValue("Metadata"));
    }

    /// <summary>
    /// Failures MSAL does not retry itself, so FastProxy sees (and reports) each one. For a
    /// malformed 200 answer Azure.Identity throws "No managed identity endpoint found." with the
    /// real cause ("the response could not be parsed") only in the inner exception.
    /// </summary>
    public static TheoryData<TokenEndpointMode, string> Failures => new()
    {
        { TokenEndpointMode.IdentityNotFound, "Identity not found" },
        { TokenEndpointMode.Garbage, "could not be parsed" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task ImdsFailingAtStart_Answers503UntilItRecoversWithoutRestart(TokenEndpointMode failure, string reasonMentions)
    {
        await using var imds = await FakeImds.StartAsync();
        imds.Mode = failure;
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds);
        await TokenFailureScenario.RunAsync(proxy, reasonMentions, TestContext.Current);
    }

    /// <summary>
    /// A 5xx is retried inside MSAL (5 retries, exponential from ≈ 0.8 s: ≈ 25 s in all, whatever
    /// the Azure.Core retry options say), so FastProxy sees no failure while IMDS recovers within
    /// that window; requests meanwhile get 503 + Retry-After, and the token arrives without restart.
    /// </summary>
    [Fact]
    public async Task ImdsServerErrorAtStart_IsRetriedAndProxyBecomesReady()
    {
        await using var imds = await FakeImds.StartAsync();
        imds.Mode = TokenEndpointMode.ServerError;
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds);

        await imds.WaitForFailuresAsync(2, TimeSpan.FromSeconds(30));
        var (status, body, retryAfter) = await proxy.GetReadyAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("not_ready", body.GetProperty("error").GetString());
        Assert.NotNull(retryAfter);
        using (var refused = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        imds.Mode = TokenEndpointMode.Succeed;
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(45));
        using var accepted = await proxy.PostRemoteWriteAsync();
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Single(proxy.Upstream.Requests);
        Assert.Equal(0, proxy.Upstream.Unauthorized);
    }

    /// <summary>
    /// The endpoint fails after the first token: the held token keeps serving until it is no longer
    /// usable, then requests get 503 and /ready says the token expired and why; when the endpoint
    /// recovers the proxy follows without restart.
    /// </summary>
    [Fact]
    public async Task ImdsFailingAfterFirstToken_HeldTokenServesUntilExpiryThen503()
    {
        await using var imds = await FakeImds.StartAsync();
        imds.TokenLifetime = TimeSpan.FromSeconds(6);
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "50",
        });
        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);
        imds.Mode = TokenEndpointMode.IdentityNotFound;

        // The refresh (at about 3 s) fails; the held token still works.
        await imds.WaitForFailuresAsync(1, TimeSpan.FromSeconds(15));
        using (var stillServed = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.OK, stillServed.StatusCode);
        }

        // Then the token runs out: /ready 503 naming expiry and the cause, requests 503 + Retry-After.
        var expired = await proxy.WaitForReadyStateAsync(
            HttpStatusCode.ServiceUnavailable, _ => true, TimeSpan.FromSeconds(15), "the held token running out");
        var message = expired.GetProperty("message").GetString()!;
        Assert.Contains("expired", message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Identity not found", message, StringComparison.Ordinal);
        using (var refused = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        imds.Mode = TokenEndpointMode.Succeed;
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(45));
        using var recovered = await proxy.PostRemoteWriteAsync();
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        Assert.Equal(0, proxy.Upstream.Unauthorized);
    }

    /// <summary>
    /// While the identity endpoint is slow the listener is open and answers at once: requests get
    /// 503 instead of waiting for the token.
    /// </summary>
    [Fact]
    public async Task SlowImds_RequestsAreAnsweredAtOnceWith503UntilTheTokenArrives()
    {
        await using var imds = await FakeImds.StartAsync();
        imds.SlowDelay = TimeSpan.FromSeconds(4);
        imds.Mode = TokenEndpointMode.Slow;
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds);
        await imds.WaitForArrivalsAsync(1, TimeSpan.FromSeconds(30));

        // The token request is now held by the slow endpoint.
        var started = DateTime.UtcNow;
        using (var refused = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "a request waited for the identity endpoint");
        var (_, body, _) = await proxy.GetReadyAsync();
        Assert.Contains("being fetched", body.GetProperty("message").GetString(), StringComparison.Ordinal);

        // The slow answer completes with a token; FastProxy becomes ready without help.
        await imds.WaitForIssuedAsync(1, TimeSpan.FromSeconds(30));
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(10));
        using var accepted = await proxy.PostRemoteWriteAsync();
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal(TokenEndpointMode.Slow, imds.Requests[0].AnsweredAs);
    }
}
