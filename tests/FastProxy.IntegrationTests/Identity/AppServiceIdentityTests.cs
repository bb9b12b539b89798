using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// The real ManagedIdentityCredential against a fake App Service / Container Apps identity endpoint
/// (IDENTITY_ENDPOINT + IDENTITY_HEADER), in a FastProxy child process.
/// </summary>
public sealed class AppServiceIdentityTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SystemAssigned_SendsIdentityHeaderApiVersionAndResource()
    {
        await using var endpoint = await FakeAppServiceIdentity.StartAsync();
        await using var proxy = await ChildProxy.StartWithAppServiceAsync(endpoint);

        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);
        using var response = await proxy.PostRemoteWriteAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = endpoint.Requests[0];
        Assert.Equal("GET", request.Method);
        Assert.Equal("/msi/token", request.Path);
        Assert.Equal(endpoint.Secret, request.HeaderValue("X-IDENTITY-HEADER"));
        Assert.Equal("2019-08-01", request.QueryValue("api-version"));
        Assert.Equal("https://monitor.azure.com", request.QueryValue("resource"));
        Assert.Null(request.QueryValue("client_id"));
        Assert.Equal(["Bearer " + endpoint.IssuedTokens[0]], proxy.Upstream.TokensSeen);
    }

    [Fact]
    public async Task UserAssigned_SendsClientIdToTheIdentityEndpoint()
    {
        const string ClientId = "a1b2c3d4-e5f6-4a5b-8c7d-9e8f7a6b5c4d";
        await using var endpoint = await FakeAppServiceIdentity.StartAsync();
        await using var proxy = await ChildProxy.StartWithAppServiceAsync(endpoint, new Dictionary<string, string?>
        {
            ["IDENTITY_TYPE"] = "userassigned",
            ["AAD_CLIENT_ID"] = ClientId,
        });

        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);

        var request = endpoint.Requests[0];
        Assert.Equal(ClientId, request.QueryValue("client_id"));
        Assert.Equal("https://monitor.azure.com", request.QueryValue("resource"));
        Assert.Equal(endpoint.Secret, request.HeaderValue("X-IDENTITY-HEADER"));
    }

    /// <summary>Failures MSAL reports at once (a 5xx it retries for ≈ 25 s first; see the IMDS tests).</summary>
    public static TheoryData<TokenEndpointMode, string> Failures => new()
    {
        { TokenEndpointMode.IdentityNotFound, "Identity not found" },
        { TokenEndpointMode.Garbage, "could not be parsed" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task EndpointFailingAtStart_Answers503UntilItRecoversWithoutRestart(TokenEndpointMode failure, string reasonMentions)
    {
        await using var endpoint = await FakeAppServiceIdentity.StartAsync();
        endpoint.Mode = failure;
        await using var proxy = await ChildProxy.StartWithAppServiceAsync(endpoint);
        await TokenFailureScenario.RunAsync(proxy, reasonMentions, TestContext.Current);
    }
}
