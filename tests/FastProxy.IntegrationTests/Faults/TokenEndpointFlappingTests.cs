using System.Diagnostics;
using System.Net;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// The identity endpoint goes down, turns slow, throttles, fails and answers garbage, one after the
/// other, while traffic flows and tokens live 4 seconds. Throughout: nothing reaches the target
/// without a valid token, nothing is answered 2xx that the target did not accept, 503 comes only
/// when no valid token can be held, and service resumes each time the endpoint recovers.
/// </summary>
/// <remarks>
/// The managed-identity credential finds its endpoint through the environment (IDENTITY_ENDPOINT),
/// so FastProxy runs as a child process and the clock is the real one: token lifetimes are short
/// and the 503 check leaves a margin for the two processes' timing.
/// </remarks>
public sealed class TokenEndpointFlappingTests
{
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(30);

    // A token reaches FastProxy a moment after the endpoint answered, and FastProxy stops using it
    // up to ~1.3 s before its recorded expiry (expires_on has whole seconds; 5 % safety margin).
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(1.5);

    public enum Failure
    {
        Down,
        Slow,
        Throttled,
        ServerError,
        Garbage,
    }

    private sealed record Outcome(DateTimeOffset Started, DateTimeOffset Ended, int Status, string? Error, bool RetryAfter);

    [Fact]
    public async Task EndpointFlappingUnderTraffic_NoRequestWithoutAValidToken_503OnlyWithoutOne_RecoversEachTime()
    {
        await using var endpoint = await FakeAppServiceIdentity.StartAsync();
        endpoint.TokenLifetime = TokenLifetime;
        await using var proxy = await ChildProxy.StartWithAppServiceAsync(endpoint, new Dictionary<string, string?>
        {
            // Refresh when 75 % of the lifetime remains (after about 1 s): a failing refresh is
            // well inside the window in which a 503 would be wrong.
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "75",
            // A 401 from the target must show as 401 here, not be turned into 503.
            ["UPSTREAM_AUTH_ERRORS_AS_503_SECONDS"] = "0",
        });
        // The target accepts a token only if the endpoint issued it and it has not expired. The
        // endpoint states expiry in whole seconds (expires_on) and MSAL turns that into an instant
        // by adding whole seconds to its own clock, so the credential may report an expiry up to
        // a second after the endpoint's own (measured: 290 ms). FastProxy's margin before expiry
        // is 5 % of the lifetime (30 s for real tokens, 0.2 s for these): the target tolerates the
        // credential's rounding, as real targets tolerate clock skew, and nothing more.
        var rounding = TimeSpan.FromSeconds(1);
        var refusedTokens = new System.Collections.Concurrent.ConcurrentQueue<string>();
        proxy.Upstream.TokenValidator = token =>
        {
            var now = DateTimeOffset.UtcNow;
            var lifetime = endpoint.LifetimeOf(token);
            if (lifetime is { } l && now < l.ExpiresOn + rounding)
            {
                return true;
            }

            refusedTokens.Enqueue($"{token[^20..]} at {now:HH:mm:ss.fff}: issued {lifetime?.IssuedAt:HH:mm:ss.fff}, expired {lifetime?.ExpiresOn:HH:mm:ss.fff}");
            return false;
        };
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));

        var outcomes = new List<Outcome>();
        var changed = new ChangeSignal();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var traffic = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(25));
            while (!stop.IsCancellationRequested)
            {
                var started = DateTimeOffset.UtcNow;
                using var response = await proxy.PostRemoteWriteAsync();
                string? error = null;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var text = await response.Content.ReadAsStringAsync();
                    error = response.Content.Headers.ContentType?.MediaType == "application/json"
                        ? JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()
                        : text;
                }

                lock (outcomes)
                {
                    outcomes.Add(new Outcome(started, DateTimeOffset.UtcNow, (int)response.StatusCode, error, response.Headers.RetryAfter is not null));
                }

                changed.Notify();
                try
                {
                    await pace.WaitForNextTickAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        })).ToList();

        bool Seen(DateTimeOffset after, int status)
        {
            lock (outcomes)
            {
                return outcomes.Any(o => o.Started > after && o.Status == status);
            }
        }

        var log = new List<string>();
        var clock = Stopwatch.StartNew();
        foreach (var failure in Enum.GetValues<Failure>())
        {
            var failedAt = DateTimeOffset.UtcNow;
            switch (failure)
            {
                case Failure.Down:
                    await endpoint.StopAsync();
                    break;
                case Failure.Slow:
                    endpoint.Mode = TokenEndpointMode.Slow;
                    break;
                case Failure.Throttled:
                    endpoint.Mode = TokenEndpointMode.Throttled;
                    break;
                case Failure.ServerError:
                    endpoint.Mode = TokenEndpointMode.ServerError;
                    break;
                case Failure.Garbage:
                    endpoint.Mode = TokenEndpointMode.Garbage;
                    break;
            }

            // The held token runs out while the endpoint fails: requests get 503.
            await changed.WaitUntilAsync(() => Seen(failedAt, 503), PhaseTimeout, $"a 503 once the token ran out with the endpoint {failure}");
            var noToken = clock.Elapsed;

            var recoveredAt = DateTimeOffset.UtcNow;
            if (failure == Failure.Down)
            {
                await endpoint.RestartAsync();
            }
            else
            {
                endpoint.Mode = TokenEndpointMode.Succeed;
            }

            await changed.WaitUntilAsync(() => Seen(recoveredAt, 200), PhaseTimeout, $"a 200 after the endpoint recovered from {failure}");
            log.Add($"{failure}: 503 from {noToken.TotalSeconds:0.0} s, served again at {clock.Elapsed.TotalSeconds:0.0} s");
        }

        await stop.CancelAsync();
        await Task.WhenAll(traffic);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", log));

        List<Outcome> all;
        lock (outcomes)
        {
            all = [.. outcomes];
        }

        // Nothing reached the target without a valid token, and every 2xx is a request it accepted.
        Assert.True(proxy.Upstream.Unauthorized == 0, $"{proxy.Upstream.Unauthorized} requests reached the target without a valid token:\n{string.Join("\n", refusedTokens.Take(10))}");
        Assert.Equal(all.Count(o => o.Status == 200), proxy.Upstream.Requests.Count);

        // Every other answer is FastProxy's own 503 no_token with Retry-After.
        var others = all.Where(o => o.Status != 200).ToList();
        Assert.All(others, o =>
        {
            Assert.Equal(503, o.Status);
            Assert.Equal("no_token", o.Error);
            Assert.True(o.RetryAfter, "503 without Retry-After");
        });

        // ... and only while no token could be held: none fell well inside a token's lifetime.
        var lifetimes = endpoint.IssuedTokens.Select(t => endpoint.LifetimeOf(t)!.Value).ToList();
        foreach (var refused in others)
        {
            var valid = lifetimes.FirstOrDefault(l => l.IssuedAt + Slack <= refused.Started && refused.Ended <= l.ExpiresOn - Slack);
            Assert.True(valid == default,
                $"503 at {refused.Started:HH:mm:ss.fff}-{refused.Ended:HH:mm:ss.fff} while the token issued at {valid.IssuedAt:HH:mm:ss.fff} was valid until {valid.ExpiresOn:HH:mm:ss.fff}");
        }

        Assert.False(proxy.Process.HasExited, "FastProxy exited because of the identity endpoint");
        TestContext.Current.TestOutputHelper?.WriteLine($"{all.Count} requests, {others.Count} answered 503, {lifetimes.Count} tokens issued");
    }
}
