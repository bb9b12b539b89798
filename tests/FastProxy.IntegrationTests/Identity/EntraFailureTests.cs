using System.Net;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// Entra and the identity's files failing in the ways operators meet, through the real
/// credentials: never a crash, one log line per distinct failure, a counter, 503 + Retry-After
/// meanwhile, and recovery without a restart.
/// </summary>
public sealed class EntraFailureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static TheoryData<EntraMode, string, string> Modes => new()
    {
        { EntraMode.ServerError, "authentication failed (HTTP 500): AADSTS90033: A transient error has occurred", "server_error" },
        { EntraMode.Throttled, "authentication failed (HTTP 429): AADSTS90055", "throttled" },
        { EntraMode.InvalidClient, "AADSTS7000215: Invalid client secret provided", "rejected" },
        { EntraMode.Garbage, "authentication failed", "" },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task EntraFailing_AtStartUp_Serves503_LogsOnce_CountsEachAttempt_ThenRecovers(EntraMode mode, string expected, string kind)
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.ClientSecret = "failure-secret";
        world.Entra.Mode = mode;
        var server = await world.StartProxyAsync(world.Environment("aadapplication", ("AAD_CLIENT_SECRET", "failure-secret")), waitForToken: false);
        var source = server.Tokens.All[0];

        await world.Entra.WaitForTokenRequestsAsync(r => r.Count >= 3, Timeout, "three failed token requests");
        await WaitUntilAsync(() => source.TotalFailures >= 2, "two counted failures");
        using (var refused = await world.PostAsync())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.True(refused.Headers.RetryAfter is not null);
        }

        var ready = await world.ReadyAsync();
        Assert.StartsWith("503 ", ready, StringComparison.Ordinal);
        Assert.Contains(expected, source.LastFailure, StringComparison.Ordinal);
        Assert.Contains(expected, ready, StringComparison.Ordinal);
        if (kind.Length > 0)
        {
            Assert.Equal(kind, source.LastFailureKind);
        }

        var logged = world.Logs.Lines.Where(l => l.EventId == 201).ToList();
        Assert.True(logged.Count == 1, $"{logged.Count} error lines for {source.TotalFailures} failures:\n{string.Join("\n", logged.Select(l => l.Text))}");

        world.Entra.Mode = EntraMode.Succeed;
        await source.FirstToken.WaitAsync(Timeout);
        using var recovered = await world.PostAsync();
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        Assert.StartsWith("200 ", await world.ReadyAsync(), StringComparison.Ordinal);
        Assert.Contains(world.Logs.Lines, l => l.EventId == 203);
    }

    [Fact]
    public async Task ExpiredCertificate_IsAClearFailure_AndARenewedFileRecoversWithoutRestart()
    {
        await using var world = await EntraFixture.StartAsync();
        using var expired = TestClientCertificates.Create("CN=expired-app", DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        using var renewed = TestClientCertificates.Create("CN=renewed-app");
        world.Entra.AcceptCertificate(expired);
        world.Entra.AcceptCertificate(renewed);
        var path = world.PathOf("cert.pem");
        await File.WriteAllTextAsync(path, TestClientCertificates.Pem(expired));
        var server = await world.StartProxyAsync(world.Environment("aadapplication", ("AAD_CLIENT_CERTIFICATE_PATH", path)), waitForToken: false);
        var source = server.Tokens.All[0];

        await source.FirstAttempt.WaitAsync(Timeout);
        Assert.Contains("'CN=expired-app'", source.LastFailure, StringComparison.Ordinal);
        Assert.Contains("expired on", source.LastFailure, StringComparison.Ordinal);
        Assert.Equal("credential_material", source.LastFailureKind);
        Assert.Contains("expired on", await world.ReadyAsync(), StringComparison.Ordinal);
        Assert.Empty(world.Entra.TokenRequests);

        await File.WriteAllTextAsync(path, TestClientCertificates.Pem(renewed));
        await source.FirstToken.WaitAsync(Timeout);
        using var response = await world.PostAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(renewed.Thumbprint, Assert.Single(world.Entra.TokenRequests).SigningCertificate!.Thumbprint);
    }

    [Fact]
    public async Task MissingFederatedTokenFile_IsAClearFailure_AndTheFileAppearingRecovers()
    {
        await using var world = await EntraFixture.StartAsync();
        var projected = TestClientCertificates.FakeServiceAccountToken("late");
        world.Entra.AcceptFederatedToken(projected);
        var path = world.PathOf("not-yet-projected");
        var server = await world.StartProxyAsync(world.Environment("workloadidentity", ("AZURE_FEDERATED_TOKEN_FILE", path)), waitForToken: false);
        var source = server.Tokens.All[0];

        await source.FirstAttempt.WaitAsync(Timeout);
        Assert.Equal($"AZURE_FEDERATED_TOKEN_FILE file {path} does not exist; check the path and that the volume holding it is mounted", source.LastFailure);
        Assert.Contains("does not exist", await world.ReadyAsync(), StringComparison.Ordinal);

        await File.WriteAllTextAsync(path, projected);
        await source.FirstToken.WaitAsync(Timeout);
        using var response = await world.PostAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task UnregisteredCertificate_IsRefusedByEntra_WithAHint()
    {
        await using var world = await EntraFixture.StartAsync();
        using var stranger = TestClientCertificates.Create("CN=not-registered");
        await File.WriteAllBytesAsync(world.PathOf("c.pfx"), TestClientCertificates.Pfx(stranger));
        var server = await world.StartProxyAsync(world.Environment("aadapplication", ("AAD_CLIENT_CERTIFICATE_PATH", world.PathOf("c.pfx"))), waitForToken: false);
        var source = server.Tokens.All[0];

        await source.FirstAttempt.WaitAsync(Timeout);

        Assert.Contains("AADSTS700027", source.LastFailure, StringComparison.Ordinal);
        Assert.Contains("upload the certificate's public part", source.LastFailure, StringComparison.Ordinal);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        // The refresher's counter has no event of its own; bounded polling of an in-process value.
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
            await Task.Delay(20);
        }
    }
}
