using Azure.Core;
using FastProxy.Identity;

namespace FastProxy.Tests.Identity;

/// <summary>
/// A token is used only until a margin before its expiry — a twentieth of its lifetime, at most
/// 30 s — so a request in transit does not arrive with an expired one. The end-to-end receiver
/// allows some clock skew on top (as Azure does), so this pins the margin itself.
/// </summary>
public sealed class AccessTokenSnapshotTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(10, 0.5)]
    [InlineData(60, 3)]
    [InlineData(3600, 30)]
    [InlineData(86400, 30)]
    public void UsableUntil_ATwentiethOfTheLifetimeBeforeExpiry_AtMost30s(int lifetimeSeconds, double marginSeconds)
    {
        var expires = Now.AddSeconds(lifetimeSeconds);
        var snapshot = AccessTokenSnapshot.Create(new AccessToken("t", expires), Now, refreshPercentage: 10, jitter: 0);

        var usableUntil = expires - TimeSpan.FromSeconds(marginSeconds);
        Assert.True(snapshot.IsUsableAt(usableUntil - TimeSpan.FromMilliseconds(1)));
        Assert.False(snapshot.IsUsableAt(usableUntil));
        Assert.False(snapshot.IsUsableAt(expires));
    }
}
