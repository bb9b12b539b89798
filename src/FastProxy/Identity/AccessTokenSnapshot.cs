using Azure.Core;

namespace FastProxy.Identity;

/// <summary>
/// One token as the hot path needs it: the Authorization header value already built, and the
/// instant after which it must not be sent. Immutable, so a reader that got it by one
/// <c>Volatile.Read</c> sees a consistent token without a lock.
/// </summary>
internal sealed class AccessTokenSnapshot
{
    private AccessTokenSnapshot(string authorizationHeaderValue, DateTimeOffset obtainedOn, DateTimeOffset expiresOn,
        DateTimeOffset usableUntil, DateTimeOffset refreshOn)
    {
        AuthorizationHeaderValue = authorizationHeaderValue;
        ObtainedOn = obtainedOn;
        ExpiresOn = expiresOn;
        UsableUntil = usableUntil;
        RefreshOn = refreshOn;
    }

    public string AuthorizationHeaderValue { get; }
    public DateTimeOffset ObtainedOn { get; }
    public DateTimeOffset ExpiresOn { get; }

    /// <summary>
    /// A little before <see cref="ExpiresOn"/>: a token that expires while the request is in
    /// flight is refused upstream with 401, which Prometheus treats as final and drops the batch.
    /// </summary>
    public DateTimeOffset UsableUntil { get; }

    /// <summary>When the refresher fetches the next token.</summary>
    public DateTimeOffset RefreshOn { get; }

    /// <summary>
    /// Builds the snapshot for <paramref name="token"/> fetched at <paramref name="now"/>; refresh when
    /// <paramref name="refreshPercentage"/> of the lifetime remains, or at the token's own refresh-on
    /// time when that is earlier; <paramref name="jitter"/> (0–1) brings it forward by up to 10 % of
    /// the wait so that replicas started together do not refresh together.
    /// </summary>
    public static AccessTokenSnapshot Create(AccessToken token, DateTimeOffset now, int refreshPercentage, double jitter)
    {
        var lifetime = token.ExpiresOn - now;
        if (lifetime < TimeSpan.Zero)
        {
            lifetime = TimeSpan.Zero;
        }

        var nominal = token.ExpiresOn - (lifetime * (refreshPercentage / 100.0));
        var refreshOn = now + ((nominal - now) * (1 - (0.1 * Math.Clamp(jitter, 0, 1))));
        if (token.RefreshOn is { } suggested && suggested < refreshOn && suggested > now)
        {
            refreshOn = suggested;
        }

        var safetyMargin = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, lifetime.Ticks / 20));
        return new AccessTokenSnapshot("Bearer " + token.Token, now, token.ExpiresOn, token.ExpiresOn - safetyMargin, refreshOn);
    }

    public bool IsUsableAt(DateTimeOffset now) => now < UsableUntil;

    /// <summary>True when both snapshots hold the same token (a credential may return a cached one).</summary>
    public bool IsSameTokenAs(AccessTokenSnapshot other) =>
        ExpiresOn == other.ExpiresOn &&
        string.Equals(AuthorizationHeaderValue, other.AuthorizationHeaderValue, StringComparison.Ordinal);
}
