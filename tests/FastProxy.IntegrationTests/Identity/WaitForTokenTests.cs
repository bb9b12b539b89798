using System.Net;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>WAIT_FOR_TOKEN_SECONDS: the listener opens once a token is held, or after the wait anyway.</summary>
public sealed class WaitForTokenTests
{
    [Fact]
    public async Task Wait_ListenerOpensWithATokenAlreadyHeld()
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.ClientSecret = "wait-secret";

        var server = await world.StartProxyAsync(world.Environment("aadapplication",
            ("AAD_CLIENT_SECRET", "wait-secret"), ("WAIT_FOR_TOKEN_SECONDS", "20")), waitForToken: false);

        // StartAsync has returned: the very first request already finds a token.
        Assert.True(server.Tokens.IsReady(out _));
        using var response = await world.PostAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var waited = world.Logs.Lines.ToList();
        Assert.True(waited.FindIndex(l => l.EventId == 214) < waited.FindIndex(l => l.EventId == 101), "tokens were held before the listener opened");
    }

    [Fact]
    public async Task Wait_RunsOut_ListenerOpensAnywayAndAnswers503()
    {
        await using var world = await EntraFixture.StartAsync();
        world.Entra.ClientSecret = "wait-secret";
        world.Entra.Mode = EntraMode.ServerError;

        var server = await world.StartProxyAsync(world.Environment("aadapplication",
            ("AAD_CLIENT_SECRET", "wait-secret"), ("WAIT_FOR_TOKEN_SECONDS", "1.5")), waitForToken: false);

        Assert.False(server.Tokens.IsReady(out _));
        var timedOut = Assert.Single(world.Logs.Lines, l => l.EventId == 215);
        Assert.Contains("AADSTS90033", timedOut.Text, StringComparison.Ordinal);
        using var response = await world.PostAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }
}
