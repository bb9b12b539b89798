using System.Net;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>The failure-then-recovery story, shared by the IMDS and App Service tests.</summary>
internal static class TokenFailureScenario
{
    public static async Task RunAsync(ChildProxy proxy, string reasonMentions, ITestContext test)
    {
        var started = DateTime.UtcNow;
        // The listener is open although no token is held.
        await proxy.Process.WaitForListeningAsync();
        await proxy.Identity.WaitForFailuresAsync(1, TimeSpan.FromSeconds(30));
        test.TestOutputHelper?.WriteLine($"first failure after {(DateTime.UtcNow - started).TotalSeconds:0.0} s");

        // /ready: 503 with a JSON reason naming the failure (it is recorded just after the answer).
        var notReady = await proxy.WaitForReadyStateAsync(
            HttpStatusCode.ServiceUnavailable,
            body => body.TryGetProperty("tokens", out var tokens) && tokens[0].TryGetProperty("lastFailure", out _),
            TimeSpan.FromSeconds(10),
            "a recorded token failure");
        var message = notReady.GetProperty("message").GetString()!;
        test.TestOutputHelper?.WriteLine($"/ready: {notReady}");
        Assert.Equal("not_ready", notReady.GetProperty("error").GetString());
        Assert.Contains(reasonMentions, message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("no token", message, StringComparison.OrdinalIgnoreCase);
        var (_, _, readyRetryAfter) = await proxy.GetReadyAsync();
        Assert.NotNull(readyRetryAfter);

        // Liveness is not readiness: the process is healthy although it holds no token.
        using (var health = await proxy.Client.GetAsync(new Uri("/health", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("application/json", health.Content.Headers.ContentType?.MediaType);
        }

        // Proxied requests: 503 + Retry-After + JSON, and nothing reaches the target.
        using (var refused = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Equal("application/json", refused.Content.Headers.ContentType?.MediaType);
            using var json = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal("no_token", json.RootElement.GetProperty("error").GetString());
        }

        Assert.Empty(proxy.Upstream.Requests);

        // The endpoint recovers; FastProxy picks it up on its own.
        proxy.Identity.Mode = TokenEndpointMode.Succeed;
        var recovered = DateTime.UtcNow;
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(45));
        test.TestOutputHelper?.WriteLine($"ready {(DateTime.UtcNow - recovered).TotalSeconds:0.0} s after recovery");
        using (var accepted = await proxy.PostRemoteWriteAsync())
        {
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        }

        Assert.False(proxy.Process.HasExited, "FastProxy exited because of the identity system");
        Assert.Equal(0, proxy.Upstream.Unauthorized);
        Assert.Single(proxy.Upstream.Requests);
    }
}
