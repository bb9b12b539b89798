using Azure.Core;
using Azure.Identity;
using FastProxy.Identity;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Identity;

public sealed class TokenSourceTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _time = new(Start);
    private readonly ScriptedCredential _credential = new();
    private readonly CapturingLogger _logger = new();

    private TokenSource CreateSource(int refreshPercentage = 10) =>
        new("scope", "https://monitor.azure.com/.default", _credential, refreshPercentage, _time, _logger);

    private AccessToken TokenValidFor(TimeSpan lifetime, string value = "token-1", DateTimeOffset? refreshOn = null) =>
        new(value, _time.GetUtcNow() + lifetime, refreshOn);

    [Fact]
    public async Task FirstToken_IsPublishedAsAReadyHeaderValue()
    {
        _credential.Then(() => TokenValidFor(TimeSpan.FromHours(1), "abc"));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Equal("Bearer abc", source.Current!.AuthorizationHeaderValue);
        Assert.True(source.HasUsableToken(_time.GetUtcNow()));
        Assert.Equal("https://monitor.azure.com/.default", Assert.Single((await _credential.CallLog.ReadAsync()).Scopes));
    }

    [Theory]
    [InlineData(10, 54, 48.6)]   // 1 h token: refresh when 6 min remain, jitter up to 10 % of the wait earlier
    [InlineData(50, 30, 27)]
    [InlineData(99, 0.6, 0.54)]
    public async Task NextRefresh_IsAtTheConfiguredPercentageOfLifetime(int percentage, double latestMinutes, double earliestMinutes)
    {
        _credential.Then(() => TokenValidFor(TimeSpan.FromHours(1)));

        var delay = await CreateSource(percentage).RefreshOnceAsync(CancellationToken.None);

        Assert.InRange(delay.TotalMinutes, earliestMinutes - 0.001, latestMinutes + 0.001);
    }

    [Fact]
    public async Task TokensRefreshOnTime_IsUsedWhenEarlier()
    {
        _credential.Then(() => TokenValidFor(TimeSpan.FromHours(24), refreshOn: Start.AddHours(12)));

        var delay = await CreateSource().RefreshOnceAsync(CancellationToken.None);

        Assert.Equal(TimeSpan.FromHours(12), delay);
    }

    [Fact]
    public async Task Failure_KeepsTheHeldTokenUntilItIsNoLongerUsable()
    {
        _credential
            .Then(() => TokenValidFor(TimeSpan.FromMinutes(10), "held"))
            .ThenAlways(() => throw new AuthenticationFailedException("ManagedIdentityCredential authentication failed: endpoint down"));
        var source = CreateSource();
        await source.RefreshOnceAsync(CancellationToken.None);

        _time.Advance(TimeSpan.FromMinutes(9));
        var delay = await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Equal("Bearer held", source.Current!.AuthorizationHeaderValue);
        Assert.True(source.HasUsableToken(_time.GetUtcNow()));
        Assert.InRange(delay, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(1.2));
        Assert.Contains("endpoint down", source.LastFailure, StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(source.HasUsableToken(_time.GetUtcNow()));
    }

    [Fact]
    public async Task RepeatedFailures_BackOffExponentiallyUpToTheCap()
    {
        _credential.ThenAlways(() => throw new CredentialUnavailableException("no identity endpoint"));
        var source = CreateSource();

        var delays = new List<TimeSpan>();
        for (var i = 0; i < 8; i++)
        {
            delays.Add(await source.RefreshOnceAsync(CancellationToken.None));
        }

        for (var i = 1; i < 5; i++)
        {
            Assert.True(delays[i] > delays[i - 1] * 1.3, $"attempt {i}: {delays[i]} after {delays[i - 1]}");
        }

        Assert.All(delays, d => Assert.True(d <= TokenSource.MaxBackoff * 1.2));
        Assert.True(delays[^1] >= TokenSource.MaxBackoff * 0.8);
        Assert.Equal(8, source.ConsecutiveFailures);
        Assert.Null(source.Current);
    }

    [Fact]
    public async Task SameFailure_IsLoggedOnceNotPerRetry()
    {
        _credential.ThenAlways(() => throw new CredentialUnavailableException("no identity endpoint"));
        var source = CreateSource();

        for (var i = 0; i < 5; i++)
        {
            await source.RefreshOnceAsync(CancellationToken.None);
        }

        Assert.Single(_logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task Recovery_ClearsTheFailureAndIsLogged()
    {
        _credential
            .Then(() => throw new CredentialUnavailableException("down"))
            .Then(() => TokenValidFor(TimeSpan.FromHours(1), "fresh"));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);
        await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Null(source.LastFailure);
        Assert.Equal(0, source.ConsecutiveFailures);
        Assert.Contains(_logger.Entries, e => e.Message.Contains("acquired again after 1 failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CachedTokenReturnedAgain_IsKeptAndAskedForSoon()
    {
        var expires = Start.AddHours(1);
        _credential.ThenAlways(() => new AccessToken("same", expires));
        var source = CreateSource();
        await source.RefreshOnceAsync(CancellationToken.None);
        var first = source.Current;

        _time.Advance(TimeSpan.FromMinutes(55));
        var delay = await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Same(first, source.Current);
        Assert.InRange(delay, TokenSource.MinBackoff, TokenSource.MaxBackoff);
    }

    [Fact]
    public async Task AlreadyExpiredToken_IsAFailureNotAToken()
    {
        _credential.Then(() => new AccessToken("old", Start.AddMinutes(-1)));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Null(source.Current);
        Assert.Contains("expired", source.LastFailure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenValue_NeverReachesTheLog()
    {
        _credential
            .Then(() => TokenValidFor(TimeSpan.FromHours(1), "super-secret-token-value"))
            .Then(() => throw new CredentialUnavailableException("down"));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);
        await source.RefreshOnceAsync(CancellationToken.None);

        Assert.NotEmpty(_logger.Entries);
        Assert.DoesNotContain(_logger.Entries, e => e.Message.Contains("super-secret-token-value", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunLoop_RetriesAfterBackoffOnTheTimeProvider()
    {
        _credential
            .Then(() => throw new CredentialUnavailableException("down"))
            .ThenAlways(() => TokenValidFor(TimeSpan.FromHours(1), "after-retry"));
        var source = CreateSource();
        using var stop = new CancellationTokenSource();
        var loop = source.RunAsync(stop.Token);
        await source.FirstAttempt.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(source.Current);

        // Fake time moves in bounded steps until the retry timer fires; no real clock decides.
        for (var step = 0; step < 100 && _credential.Calls < 2; step++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            SpinWait.SpinUntil(() => _credential.Calls >= 2, TimeSpan.FromMilliseconds(20));
        }

        Assert.True(SpinWait.SpinUntil(() => source.Current is not null, TimeSpan.FromSeconds(10)));
        Assert.Equal("Bearer after-retry", source.Current?.AuthorizationHeaderValue);
        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task EveryFailure_IsCounted_AndTheCounterSurvivesRecovery()
    {
        _credential
            .Then(() => throw new CredentialUnavailableException("down"))
            .Then(() => throw new AuthenticationFailedException("ManagedIdentityCredential authentication failed", new Azure.RequestFailedException(429, "Too Many Requests")))
            .Then(() => TokenValidFor(TimeSpan.FromHours(1)))
            .Then(() => throw new CredentialUnavailableException("down"));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);
        await source.RefreshOnceAsync(CancellationToken.None);
        Assert.Equal(2, source.TotalFailures);
        Assert.Equal("throttled", source.LastFailureKind);

        await source.RefreshOnceAsync(CancellationToken.None);
        await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Equal(3, source.TotalFailures);
        Assert.Equal(1, source.ConsecutiveFailures);
        Assert.Equal("identity_unavailable", source.LastFailureKind);
    }

    [Fact]
    public async Task FirstToken_CompletesOnTheFirstSuccessNotTheFirstAttempt()
    {
        _credential
            .Then(() => throw new CredentialUnavailableException("down"))
            .Then(() => TokenValidFor(TimeSpan.FromHours(1)));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);
        Assert.False(source.FirstToken.IsCompleted);

        await source.RefreshOnceAsync(CancellationToken.None);
        Assert.True(source.FirstToken.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task MaterialFailure_IsLoggedWithItsOwnMessage()
    {
        _credential.ThenAlways(() => throw new CredentialMaterialException("AZURE_FEDERATED_TOKEN_FILE file /t does not exist; check the path"));
        var source = CreateSource();

        await source.RefreshOnceAsync(CancellationToken.None);

        Assert.Equal("AZURE_FEDERATED_TOKEN_FILE file /t does not exist; check the path", source.LastFailure);
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 201 && e.Message.Contains("/t does not exist", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(5, 16)]
    [InlineData(6, 30)]
    [InlineData(100, 30)]
    public void Backoff_DoublesAndCaps(int failures, double seconds) =>
        Assert.Equal(seconds, TokenSource.Backoff(failures, 0.5).TotalSeconds, 3);
}
