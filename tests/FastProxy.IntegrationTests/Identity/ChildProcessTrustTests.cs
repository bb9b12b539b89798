using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// FastProxy as operators run it: configured by environment variables only, talking to an Entra
/// whose certificate chains to a private CA that the process trusts through SSL_CERT_FILE (as in
/// an air-gapped cloud). Proves the variables reach the real credentials: AZURE_AUTHORITY_HOST,
/// AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID, with instance discovery off for
/// a host Entra's discovery would not know.
/// </summary>
public sealed class ChildProcessTrustTests
{
    [Fact]
    public async Task WorkloadIdentity_FromEnvironmentOnly_TrustsTheCaInSslCertFile()
    {
        await using var world = await EntraFixture.StartAsync();
        var projected = TestClientCertificates.FakeServiceAccountToken("child");
        world.Entra.AcceptFederatedToken(projected);
        await File.WriteAllTextAsync(world.PathOf("azure-identity-token"), projected);

        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = world.Upstream.BaseUrl,
            // What the workload identity webhook injects, IDENTITY_TYPE left unset (default).
            ["AZURE_CLIENT_ID"] = world.Entra.ClientId,
            ["AZURE_TENANT_ID"] = world.Entra.TenantId,
            ["AZURE_FEDERATED_TOKEN_FILE"] = world.PathOf("azure-identity-token"),
            ["AZURE_AUTHORITY_HOST"] = world.Entra.AuthorityHost.ToString(),
            ["SSL_CERT_FILE"] = world.Authority.BundlePath,
            ["WAIT_FOR_TOKEN_SECONDS"] = "20",
        });
        using var client = TestHttp.CreateClient(proxy.BaseAddress);

        await proxy.WaitForReadyAsync(client, TimeSpan.FromSeconds(30));
        using var content = new ByteArrayContent([1, 2, 3]);
        using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = Assert.Single(world.Entra.TokenRequests);
        Assert.Null(request.Problem);
        Assert.Equal(projected, request.Field("client_assertion"));
        Assert.DoesNotContain(world.Entra.Requests, r => r.Path.Contains("discovery", StringComparison.Ordinal));
        Assert.Contains("workloadidentity", proxy.Stdout, StringComparison.Ordinal);
        Assert.Contains("chosen by IDENTITY_TYPE=default: AZURE_FEDERATED_TOKEN_FILE is set", proxy.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(projected, proxy.Stdout + proxy.Stderr, StringComparison.Ordinal);
    }
}
