using Azure.Core;
using Azure.Identity;
using FastProxy.Identity;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Identity;

/// <summary>The start-up wait for first tokens (WAIT_FOR_TOKEN_SECONDS), on fake time.</summary>
public sealed class TokenSourcesTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
    private readonly CapturingLogger _logger = new();

    private TokenSources Create(ScriptedCredential credential, TimeSpan wait, params string[] scopes) =>
        new([.. scopes.Select(scope => new TokenSource(scope, scope, credential, 10, _time, _logger))], _time, wait, _logger);

    [Fact]
    public async Task NoWait_StartReturnsAtOnce()
    {
        var credential = new ScriptedCredential().ThenAlways(() => throw new CredentialUnavailableException("down"));
        var sources = Create(credential, TimeSpan.Zero, "https://monitor.azure.com/.default");

        await sources.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.DoesNotContain(_logger.Entries, e => e.EventId.Id is 213 or 214 or 215);
        await sources.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Wait_EndsWhenEveryRouteHoldsAToken()
    {
        var credential = new ScriptedCredential().ThenAlways(() => new AccessToken("t", _time.GetUtcNow().AddHours(1)));
        var sources = Create(credential, TimeSpan.FromSeconds(30), "https://monitor.azure.com/.default", "https://prometheus.monitor.azure.com/.default");

        await sources.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(sources.IsReady(out _));
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 214);
        await sources.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Wait_RunsOut_LogsWhyAndStartsAnyway()
    {
        var credential = new ScriptedCredential().ThenAlways(() => throw new CredentialUnavailableException("no identity endpoint"));
        var sources = Create(credential, TimeSpan.FromSeconds(20), "https://monitor.azure.com/.default");

        var start = sources.StartAsync(CancellationToken.None);
        await sources.All[0].FirstAttempt.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(start.IsCompleted);

        // Bounded steps of fake time; the wait's timer is on the same clock.
        for (var step = 0; step < 100 && !start.IsCompleted; step++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(start, Task.Delay(10));
        }

        await start.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(sources.IsReady(out _));
        var warning = Assert.Single(_logger.Entries, e => e.EventId.Id == 215);
        Assert.Contains("no identity endpoint", warning.Message, StringComparison.Ordinal);
        Assert.Contains("opening the listener anyway", warning.Message, StringComparison.Ordinal);
        Assert.True(sources.TotalFailures >= 1);
        await sources.StopAsync(CancellationToken.None);
    }
}
