using System.Net;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// Everything FastProxy writes — every log line at trace level through failure and success, the
/// /ready body, error responses — is searched for each secret it handled: client secret, PFX
/// password, private key, federated token and the access tokens themselves.
/// </summary>
public sealed class SecretsInLogsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("secret-variable")]
    [InlineData("secret-file")]
    [InlineData("pfx-password")]
    [InlineData("pem")]
    [InlineData("workload")]
    public async Task NoSecret_ReachesLogsOrProbes_InFailureOrSuccess(string flow)
    {
        await using var world = await EntraFixture.StartAsync();
        var secrets = new List<string>();
        var environment = Configure(world, flow, secrets);

        // First Entra refuses (so the failure paths log), then it issues tokens.
        world.Entra.Mode = EntraMode.InvalidClient;
        var server = await world.StartProxyAsync(environment, waitForToken: false);
        var source = server.Tokens.All[0];
        await source.FirstAttempt.WaitAsync(Timeout);
        var written = new List<string> { await world.ReadyAsync() };
        using (var refused = await world.PostAsync())
        {
            written.Add(await refused.Content.ReadAsStringAsync());
        }

        world.Entra.Mode = EntraMode.Succeed;
        await source.FirstToken.WaitAsync(Timeout);
        using (var response = await world.PostAsync())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            written.Add(await response.Content.ReadAsStringAsync());
        }

        written.Add(await world.ReadyAsync());
        written.Add(string.Join("\n", server.Tokens.All.Select(s => s.LastFailure)));
        secrets.AddRange(world.Entra.IssuedTokens);
        Assert.NotEmpty(world.Entra.IssuedTokens);
        Assert.True(world.Logs.Lines.Count > 5, "too little was logged to prove anything");
        Assert.Contains(world.Logs.Lines, l => l.EventId == 201);

        var everything = world.Logs.All + "\n" + string.Join("\n", written);
        Assert.All(secrets, secret => Assert.DoesNotContain(secret, everything, StringComparison.Ordinal));
        Assert.DoesNotContain(world.Entra.TokenPrefix, everything, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Configure(EntraFixture world, string flow, List<string> secrets)
    {
        switch (flow)
        {
            case "secret-variable":
                world.Entra.ClientSecret = "Zq8~variable-client-secret-" + Guid.NewGuid().ToString("N");
                secrets.Add(world.Entra.ClientSecret);
                return world.Environment("aadapplication", ("AAD_CLIENT_SECRET", world.Entra.ClientSecret));

            case "secret-file":
                world.Entra.ClientSecret = "Zq8~file-client-secret-" + Guid.NewGuid().ToString("N");
                secrets.Add(world.Entra.ClientSecret);
                File.WriteAllText(world.PathOf("secret"), world.Entra.ClientSecret);
                return world.Environment("aadapplication", ("AAD_CLIENT_SECRET_FILE", world.PathOf("secret")));

            case "pfx-password":
            {
                var password = "pfx-password-" + Guid.NewGuid().ToString("N");
                var certificate = TestClientCertificates.Create("CN=secrets-pfx"); // kept by the fake Entra until the test ends
                world.Entra.AcceptCertificate(certificate);
                File.WriteAllBytes(world.PathOf("c.pfx"), TestClientCertificates.Pfx(certificate, password));
                secrets.Add(password);
                secrets.Add(TestClientCertificates.PrivateKeyFragment(certificate));
                return world.Environment("aadapplication", ("AAD_CLIENT_CERTIFICATE_PATH", world.PathOf("c.pfx")), ("AAD_CLIENT_CERTIFICATE_PASSWORD", password));
            }

            case "pem":
            {
                var certificate = TestClientCertificates.Create("CN=secrets-pem"); // kept by the fake Entra until the test ends
                world.Entra.AcceptCertificate(certificate);
                File.WriteAllText(world.PathOf("c.pem"), TestClientCertificates.Pem(certificate));
                secrets.Add(TestClientCertificates.PrivateKeyFragment(certificate));
                return world.Environment("aadapplication", ("AAD_CLIENT_CERTIFICATE_PATH", world.PathOf("c.pem")));
            }

            default:
            {
                var projected = TestClientCertificates.FakeServiceAccountToken("secret-check");
                world.Entra.AcceptFederatedToken(projected);
                File.WriteAllText(world.PathOf("token"), projected);
                secrets.Add(projected);
                // The signature part alone must not leak either.
                secrets.Add(projected.Split('.')[2]);
                return world.Environment("workloadidentity", ("AZURE_FEDERATED_TOKEN_FILE", world.PathOf("token")));
            }
        }
    }
}
