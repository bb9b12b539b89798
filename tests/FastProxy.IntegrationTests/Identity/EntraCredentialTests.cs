using System.Net;
using System.Security.Cryptography;
using System.Text;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// The real Azure.Identity confidential-client credentials (client secret, certificate, workload
/// identity) inside FastProxy against a loopback Entra v2.0 endpoint over HTTPS: the request each
/// flow must send, and the token reaching the target.
/// </summary>
public sealed class EntraCredentialTests
{
    [Fact]
    public async Task ClientSecret_SendsAV2ClientCredentialsRequest_WithoutInstanceDiscovery()
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.ClientSecret = "entra-client-secret-" + Guid.NewGuid().ToString("N");
        await File.WriteAllTextAsync(world.PathOf("secret"), world.Entra.ClientSecret + "\n");
        await world.StartProxyAsync(world.Environment("aadapplication", ("AAD_CLIENT_SECRET_FILE", world.PathOf("secret"))));

        using var response = await world.PostAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = Assert.Single(world.Entra.TokenRequests);
        Assert.Null(request.Problem);
        Assert.Equal($"/{world.Entra.TenantId}/oauth2/v2.0/token", request.Path);
        Assert.Equal("client_credentials", request.Field("grant_type"));
        Assert.Equal("https://monitor.azure.com/.default", request.Field("scope"));
        Assert.Equal(world.Entra.ClientId, request.Field("client_id"));
        Assert.Equal(world.Entra.ClientSecret, request.Field("client_secret"));
        Assert.Null(request.Field("client_assertion"));
        Assert.DoesNotContain(world.Entra.Requests, r => r.Path.Contains("discovery", StringComparison.Ordinal));
        Assert.Equal(["Bearer " + request.IssuedToken], world.Upstream.TokensSeen);
    }

    [Fact]
    public async Task Certificate_Pfx_AssertionIsSignedByTheCertificateWithX5tS256()
    {
        await using var world = await EntraFixture.StartAsync();
        using var certificate = TestClientCertificates.Create("CN=fastproxy-pfx");
        world.Entra.AcceptCertificate(certificate);
        await File.WriteAllBytesAsync(world.PathOf("cert.pfx"), TestClientCertificates.Pfx(certificate, "pfx-password-1"));
        await File.WriteAllTextAsync(world.PathOf("password"), "pfx-password-1\n");
        await world.StartProxyAsync(world.Environment("aadapplication",
            ("AAD_CLIENT_CERTIFICATE_PATH", world.PathOf("cert.pfx")), ("AAD_CLIENT_CERTIFICATE_PASSWORD_FILE", world.PathOf("password"))));

        using var response = await world.PostAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = Assert.Single(world.Entra.TokenRequests);
        Assert.Null(request.Problem);
        Assert.Equal(FakeEntra.JwtBearer, request.Field("client_assertion_type"));
        Assert.Null(request.Field("client_secret"));
        Assert.Equal(certificate.Thumbprint, request.SigningCertificate!.Thumbprint);
        var header = request.AssertionHeader!.Value;
        Assert.Equal(System.Buffers.Text.Base64Url.EncodeToString(SHA256.HashData(certificate.RawData)), header.GetProperty("x5t#S256").GetString());
        Assert.Equal("PS256", header.GetProperty("alg").GetString());
        Assert.False(header.TryGetProperty("x5c", out _));
        Assert.Equal(["Bearer " + request.IssuedToken], world.Upstream.TokensSeen);
    }

    [Fact]
    public async Task Certificate_Pem_WithSendChain_CarriesX5c()
    {
        await using var world = await EntraFixture.StartAsync();
        using var certificate = TestClientCertificates.Create("CN=fastproxy-sni");
        world.Entra.AcceptCertificate(certificate);
        world.Entra.RequireX5c = true;
        await File.WriteAllTextAsync(world.PathOf("cert.pem"), TestClientCertificates.Pem(certificate));
        await world.StartProxyAsync(world.Environment("aadapplication",
            ("AAD_CLIENT_CERTIFICATE_PATH", world.PathOf("cert.pem")), ("AAD_CLIENT_CERTIFICATE_SEND_CHAIN", "true")));

        using var response = await world.PostAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = Assert.Single(world.Entra.TokenRequests);
        Assert.Null(request.Problem);
        Assert.True(request.AssertionHeader!.Value.TryGetProperty("x5c", out _));
    }

    [Fact]
    public async Task WorkloadIdentity_AssertionIsTheProjectedTokenFile()
    {
        await using var world = await EntraFixture.StartAsync();
        var projected = TestClientCertificates.FakeServiceAccountToken("first");
        world.Entra.AcceptFederatedToken(projected);
        await File.WriteAllTextAsync(world.PathOf("azure-identity-token"), projected);
        await world.StartProxyAsync(world.Environment("workloadidentity",
            ("AZURE_FEDERATED_TOKEN_FILE", world.PathOf("azure-identity-token")), ("AUDIENCE", "https://prometheus.monitor.azure.com")));

        using var response = await world.Client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = Assert.Single(world.Entra.TokenRequests);
        Assert.Null(request.Problem);
        Assert.Equal(FakeEntra.JwtBearer, request.Field("client_assertion_type"));
        Assert.Equal(projected, request.Field("client_assertion"));
        Assert.Equal("https://prometheus.monitor.azure.com/.default", request.Field("scope"));
        Assert.Equal(["Bearer " + request.IssuedToken], world.Upstream.TokensSeen);
    }
}
