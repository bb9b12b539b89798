using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// The files an identity is made of change while traffic flows: a CSI-rotated certificate and a
/// Kubernetes-rotated projected token. Tokens live 2 minutes and are refreshed at 99 % of their
/// lifetime remaining (about every second), so refreshes happen throughout; each test proves
/// that Entra saw the new material, that the target saw a token obtained with it, and that not
/// one request failed.
/// </summary>
public sealed class RotationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task CertificateFileReplaced_UnderTraffic_NextTokenUsesTheNewCertificate_ZeroFailedRequests()
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.TokenLifetime = TimeSpan.FromMinutes(2);
        using var first = TestClientCertificates.Create("CN=before-rotation");
        using var second = TestClientCertificates.Create("CN=after-rotation");
        world.Entra.AcceptCertificate(first);
        world.Entra.AcceptCertificate(second);
        var path = world.PathOf("tls.pem");
        await File.WriteAllTextAsync(path, TestClientCertificates.Pem(first));
        await world.StartProxyAsync(world.Environment("aadapplication",
            ("AAD_CLIENT_CERTIFICATE_PATH", path), ("AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "99")));

        await using var traffic = Traffic.Start(world);
        await traffic.WaitForMoreAsync(50, Timeout);
        // The CSI driver writes the new content beside the old and swaps it in atomically.
        await File.WriteAllTextAsync(path + ".tmp", TestClientCertificates.Pem(second));
        File.Move(path + ".tmp", path, overwrite: true);

        await world.Entra.WaitForTokenRequestsAsync(r => r.Any(t => t.SigningCertificate?.Thumbprint == second.Thumbprint && t.IssuedToken is not null),
            Timeout, "a token request signed with the rotated certificate");
        var issuedWithNew = world.Entra.TokenRequests.First(t => t.SigningCertificate?.Thumbprint == second.Thumbprint).IssuedToken!;
        await WaitForUpstreamToSeeAsync(world, traffic, issuedWithNew);
        var failures = await traffic.StopAsync();

        Assert.Empty(failures);
        Assert.All(world.Entra.TokenRequests, r => Assert.Null(r.Problem));
        Assert.Contains(world.Entra.TokenRequests, r => r.SigningCertificate?.Thumbprint == first.Thumbprint);
        Assert.Contains(world.Logs.Lines, l => l.EventId == 211 && l.Text.Contains("CN=after-rotation", StringComparison.Ordinal));
        Assert.True(traffic.Sent > 100, $"only {traffic.Sent} requests");
    }

    [Fact]
    public async Task FederatedTokenFileReplaced_UnderTraffic_NextAssertionIsTheNewToken_ZeroFailedRequests()
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.TokenLifetime = TimeSpan.FromMinutes(2);
        var before = TestClientCertificates.FakeServiceAccountToken("before");
        var after = TestClientCertificates.FakeServiceAccountToken("after");
        world.Entra.AcceptFederatedToken(before);
        world.Entra.AcceptFederatedToken(after);
        var path = world.PathOf("azure-identity-token");
        await File.WriteAllTextAsync(path, before);
        await world.StartProxyAsync(world.Environment("workloadidentity",
            ("AZURE_FEDERATED_TOKEN_FILE", path), ("AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "99")));

        await using var traffic = Traffic.Start(world);
        await traffic.WaitForMoreAsync(50, Timeout);
        // kubelet writes projected volumes through a symlinked directory swap; the file's path stays.
        await File.WriteAllTextAsync(path + ".tmp", after);
        File.Move(path + ".tmp", path, overwrite: true);

        await world.Entra.WaitForTokenRequestsAsync(r => r.Any(t => t.Field("client_assertion") == after && t.IssuedToken is not null),
            Timeout, "a token request asserting the rotated service account token");
        var issuedWithNew = world.Entra.TokenRequests.First(t => t.Field("client_assertion") == after).IssuedToken!;
        await WaitForUpstreamToSeeAsync(world, traffic, issuedWithNew);
        var failures = await traffic.StopAsync();

        Assert.Empty(failures);
        Assert.All(world.Entra.TokenRequests, r => Assert.Null(r.Problem));
        Assert.Contains(world.Entra.TokenRequests, r => r.Field("client_assertion") == before);
        // Once rotated, the old token is never asserted again.
        var firstNew = world.Entra.TokenRequests.ToList().FindIndex(t => t.Field("client_assertion") == after);
        Assert.All(world.Entra.TokenRequests.Skip(firstNew), r => Assert.Equal(after, r.Field("client_assertion")));
    }

    [Fact]
    public async Task RefreshesUnderTraffic_NeverFailARequest()
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.TokenLifetime = TimeSpan.FromMinutes(2);
        world.Entra.ClientSecret = "refresh-secret";
        await world.StartProxyAsync(world.Environment("aadapplication",
            ("AAD_CLIENT_SECRET", "refresh-secret"), ("AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "99")));

        await using var traffic = Traffic.Start(world);
        await world.Entra.WaitForTokenRequestsAsync(r => r.Count(t => t.IssuedToken is not null) >= 3, Timeout, "two refreshes after the first token");
        await traffic.WaitForMoreAsync(20, Timeout);
        var failures = await traffic.StopAsync();

        Assert.Empty(failures);
        Assert.True(world.Upstream.TokensSeen.Count >= 3, $"the target saw {world.Upstream.TokensSeen.Count} distinct tokens");
    }

    private static async Task WaitForUpstreamToSeeAsync(EntraFixture world, Traffic traffic, string token)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!world.Upstream.TokensSeen.Contains("Bearer " + token) &&
               !world.Entra.TokenRequests.SkipWhile(r => r.IssuedToken != token).Skip(1).Any(r => world.Upstream.TokensSeen.Contains("Bearer " + r.IssuedToken)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the target never saw a token obtained with the new material");
            await traffic.WaitForMoreAsync(10, Timeout);
        }

        await traffic.WaitForMoreAsync(20, Timeout);
    }
}
