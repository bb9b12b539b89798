using FastProxy.Configuration;

namespace FastProxy.Forwarding;

/// <summary>
/// The explicit, documented exceptions to "upstream responses are relayed unchanged": answers
/// that would make Prometheus drop a batch although a retry later would succeed.
/// </summary>
/// <remarks>
/// Prometheus retries 5xx (honouring Retry-After) and drops a batch on any other 4xx, and on 429
/// unless <c>retry_on_http_429</c> is set. Azure Monitor answers 429 when a data collection
/// endpoint exceeds its request rate, and 401/403 while a new role assignment propagates (up to
/// about 30 minutes). Both are "later", not "never", so they become 503; the target's other
/// headers (Retry-After among them) are relayed as they are.
/// </remarks>
internal sealed class UpstreamStatusPolicy
{
    private readonly bool _throttlingAs503;
    private readonly TimeSpan _authErrorsWindow;
    private readonly TimeProvider _time;
    private readonly long _startedAt;

    public UpstreamStatusPolicy(ProxyOptions options, TimeProvider time)
    {
        _throttlingAs503 = options.Upstream429As503;
        _authErrorsWindow = options.UpstreamAuthErrorsAs503;
        _time = time;
        _startedAt = time.GetTimestamp();
    }

    /// <summary>The status to send the client for the target's <paramref name="status"/>.</summary>
    public int StatusFor(int status) => status switch
    {
        429 when _throttlingAs503 => 503,
        401 or 403 when _authErrorsWindow > TimeSpan.Zero && _time.GetElapsedTime(_startedAt) < _authErrorsWindow => 503,
        _ => status,
    };
}
