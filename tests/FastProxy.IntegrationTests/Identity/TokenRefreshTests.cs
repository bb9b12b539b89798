using System.Net;
using Azure.Core;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// Tokens are renewed in the background while traffic flows, and no request fails across a refresh.
/// </summary>
/// <remarks>
/// What MSAL does with short-lived managed-identity tokens (measured with MSAL 4.83 through
/// Azure.Identity 1.21): it treats a cached token that expires within 5 minutes as expired, so
/// every GetTokenAsync for a 6-second token goes to the endpoint and returns a new token. A
/// cached token comes back only for longer lifetimes (or when MSAL refreshes proactively, for
/// tokens of 2 hours and more); that path is exercised with a credential that mimics it.
/// </remarks>
public sealed class TokenRefreshTests
{
    private static readonly TimeSpan TrafficDeadline = TimeSpan.FromSeconds(40);

    /// <summary>
    /// Sends remote-write requests from <paramref name="workers"/> paced loops until
    /// <paramref name="done"/> holds (or the deadline passes); returns every status seen.
    /// </summary>
    private static async Task<List<HttpStatusCode>> RunTrafficAsync(HttpClient client, Func<bool> done, int workers = 2)
    {
        var statuses = new List<HttpStatusCode>();
        using var deadline = new CancellationTokenSource(TrafficDeadline);
        var body = Fixtures.RemoteWrite()[0].Body;

        async Task WorkerAsync()
        {
            // Paced (about 50 requests/s per worker) so the machine keeps time for the refresh itself.
            using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            for (var i = 0; i < 5_000 && !done() && !deadline.IsCancellationRequested; i++)
            {
                using var content = new ByteArrayContent(body);
                using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), content);
                lock (statuses)
                {
                    statuses.Add(response.StatusCode);
                }

                try
                {
                    await pace.WaitForNextTickAsync(deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => WorkerAsync()));
        Assert.True(done(), $"the expected refreshes did not happen within {TrafficDeadline.TotalSeconds} s");
        return statuses;
    }

    [Fact]
    public async Task ShortLivedImdsTokens_RefreshUnderTrafficWithoutAFailedRequest()
    {
        await using var imds = await FakeImds.StartAsync();
        imds.TokenLifetime = TimeSpan.FromSeconds(6);
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            // Refresh at half-life: 3 s of a 6 s token, leaving time to spare on a busy 2-core machine.
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "50",
        });
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));

        // Two refreshes after the first token: three tokens issued and all three used upstream.
        var statuses = await RunTrafficAsync(proxy.Client, () => imds.IssuedTokens.Count >= 3 && proxy.Upstream.TokensSeen.Count >= 3);

        var failed = statuses.Where(s => (int)s is < 200 or > 299).ToList();
        Assert.True(failed.Count == 0, $"{failed.Count} of {statuses.Count} requests failed: {string.Join(", ", failed.Distinct())}\n{proxy.Process.Describe()}");
        Assert.Equal(0, proxy.Upstream.Unauthorized);
        foreach (var token in imds.IssuedTokens.Take(3))
        {
            Assert.Contains("Bearer " + token, proxy.Upstream.TokensSeen);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{statuses.Count} requests, {imds.IssuedTokens.Count} tokens issued, {imds.Requests.Count} token requests");
    }

    [Fact]
    public async Task ShortLivedAppServiceTokens_RefreshUnderTrafficWithoutAFailedRequest()
    {
        await using var endpoint = await FakeAppServiceIdentity.StartAsync();
        endpoint.TokenLifetime = TimeSpan.FromSeconds(6);
        await using var proxy = await ChildProxy.StartWithAppServiceAsync(endpoint, new Dictionary<string, string?>
        {
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "50",
        });
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));

        var statuses = await RunTrafficAsync(proxy.Client, () => endpoint.IssuedTokens.Count >= 2 && proxy.Upstream.TokensSeen.Count >= 2);

        Assert.All(statuses, s => Assert.True((int)s is >= 200 and <= 299, $"request failed with {(int)s}"));
        Assert.Equal(0, proxy.Upstream.Unauthorized);
    }

    /// <summary>
    /// A credential that, like MSAL, answers the first refresh from its cache (the same token and
    /// expiry) and only the next call with a new token.
    /// </summary>
    private sealed class CachingCredential : TokenCredential
    {
        private readonly TimeSpan _lifetime;
        private readonly Lock _gate = new();
        private AccessToken? _cached;
        private int _calls;

        public CachingCredential(TimeSpan lifetime) => _lifetime = lifetime;

        public List<string> Issued { get; } = [];

        public int Calls => Volatile.Read(ref _calls);

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                _calls++;
                // Calls 1, 3, 5, … mint a token; 2, 4, … return the cached one unchanged.
                if (_cached is null || _calls % 2 == 1)
                {
                    var token = $"cached-credential-token-{Issued.Count + 1}-{Guid.NewGuid():N}";
                    Issued.Add(token);
                    _cached = new AccessToken(token, DateTimeOffset.UtcNow + _lifetime);
                }

                return _cached.Value;
            }
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    [Fact]
    public async Task CredentialAnsweringFromItsCache_KeepsServingAndPicksUpTheNextToken()
    {
        var credential = new CachingCredential(TimeSpan.FromSeconds(6));
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.TokenValidator = token => credential.Issued.Contains(token);
        var options = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = upstream.BaseUrl,
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "50",
        };
        await using var proxy = await InProcessProxy.StartAsync(options, credential: credential);
        using var client = TestHttp.CreateClient(proxy.Address);

        // Call 2 is the cached answer; call 3 (about a second later) brings token 2.
        var statuses = await RunTrafficAsync(client, () => credential.Calls >= 3 && upstream.TokensSeen.Count >= 2);

        Assert.All(statuses, s => Assert.True((int)s is >= 200 and <= 299, $"request failed with {(int)s}"));
        Assert.Equal(0, upstream.Unauthorized);
        Assert.Contains("Bearer " + credential.Issued[0], upstream.TokensSeen);
        Assert.Contains("Bearer " + credential.Issued[1], upstream.TokensSeen);
    }
}
