using System.Net;
using System.Text;
using Azure.Core;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>
/// No token, client secret, certificate password or certificate reaches a log line, the scrape, or
/// one of FastProxy's own answers, even when the target echoes the request back in an error body.
/// </summary>
public sealed class SecretHygieneTelemetryTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private const string Token = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJtb25pdG9yIn0.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw";
    private const string ClientSecret = "client-secret-VALUE-7d1e";
    private const string Password = "pfx-password-VALUE-93ab";

    /// <summary>Fails once (so the failure path logs), then hands out <see cref="Token"/>.</summary>
    private sealed class FlakyCredential : TokenCredential
    {
        private int _calls;

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _calls) == 1
                ? throw new Azure.Identity.AuthenticationFailedException("AADSTS7000215: Invalid client secret provided.")
                : new AccessToken(Token, DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    public static TheoryData<string, string, string> Identities => new()
    {
        { "AAD_CLIENT_SECRET", ClientSecret, ClientSecret },
        { "AAD_CLIENT_CERTIFICATE_PASSWORD", Password, Password },
    };

    [Theory]
    [MemberData(nameof(Identities))]
    public async Task TrafficErrorsAndScrape_NeverShowSecrets(string variable, string value, string secret)
    {
        await using var upstream = await FakeUpstream.StartAsync(Token);
        upstream.Behavior = async (context, recorded) =>
        {
            await FakeUpstream.ReadBodyAsync(context);
            // A careless target echoing the request, Authorization included, in an error body.
            context.Response.StatusCode = context.Request.Query.ContainsKey("echo") ? 401 : 204;
            if (context.Response.StatusCode == 401)
            {
                await context.Response.WriteAsync("invalid token: Authorization: " + recorded.Header("Authorization") + " raw " + Token, context.RequestAborted);
            }
        };

        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = upstream.BaseUrl,
            ["IDENTITY_TYPE"] = "aadapplication",
            ["AAD_CLIENT_ID"] = "abcd1234-1243-abcd-9876-1234abcd5678",
            ["AAD_TENANT_ID"] = "00000000-0000-0000-0000-000000000001",
            ["AAD_CLIENT_CERTIFICATE_PATH"] = "/nonexistent/cert.pfx",
            // The target's 401 is relayed as it is (no start-up window) so its body is logged.
            ["UPSTREAM_AUTH_ERRORS_AS_503_SECONDS"] = "0",
            [variable] = value,
        };
        if (variable == "AAD_CLIENT_SECRET")
        {
            environment.Remove("AAD_CLIENT_CERTIFICATE_PATH");
        }

        await using var proxy = await TelemetryHarness.StartAsync(environment, new FlakyCredential(), waitForToken: false);
        using var client = TestHttp.CreateClient(proxy.Address);
        var ownAnswers = new StringBuilder();

        // Before the token: 503 with FastProxy's own body (the first fetch fails, retried after ~1 s).
        using (var early = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[10]), Cancel))
        {
            ownAnswers.Append(await early.Content.ReadAsStringAsync(Cancel));
        }

        ownAnswers.Append(await (await client.GetAsync(new Uri("/ready", UriKind.Relative), Cancel)).Content.ReadAsStringAsync(Cancel));
        await Task.WhenAll(proxy.Server.Tokens.All.Select(s => s.FirstToken)).WaitAsync(TimeSpan.FromSeconds(15), Cancel);

        using (var ok = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[10]), Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
        }

        using (var echoed = await client.PostAsync(new Uri("/api/v1/write?echo=1", UriKind.Relative), new ByteArrayContent(new byte[10]), Cancel))
        {
            // Relayed unchanged: the target's body is the target's business.
            Assert.Equal(HttpStatusCode.Unauthorized, echoed.StatusCode);
        }

        ownAnswers.Append(await (await client.GetAsync(new Uri("/ready", UriKind.Relative), Cancel)).Content.ReadAsStringAsync(Cancel));
        var scrape = await proxy.ScrapeAsync();
        await proxy.DisposeAsync();

        var logs = string.Join("\n", proxy.Logs.Entries.Select(e => e.Message));
        Assert.Contains(proxy.Logs.Entries, e => e.EventId == 306 && e.Message.Contains("401", StringComparison.Ordinal));
        Assert.Contains(proxy.Logs.Entries, e => e.EventId == 201);
        foreach (var forbidden in new[] { Token, secret, "c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw" })
        {
            Assert.DoesNotContain(forbidden, logs, StringComparison.Ordinal);
            Assert.DoesNotContain(forbidden, scrape.Text, StringComparison.Ordinal);
            Assert.DoesNotContain(forbidden, ownAnswers.ToString(), StringComparison.Ordinal);
        }
    }
}
