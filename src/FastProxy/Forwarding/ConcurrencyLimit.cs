namespace FastProxy.Forwarding;

/// <summary>
/// MAX_CONCURRENT_REQUESTS: how many forwarded requests may be in flight at once. One increment
/// and one decrement per request; no lock, no queue: a request over the limit is answered 503 at
/// once, which Prometheus retries, so an overload delays samples but never drops them.
/// </summary>
/// <remarks>
/// The slot is taken by <c>RequestHandler</c> and given back in <see cref="HttpForwarder.ForwardAsync"/>'s
/// own finally block. A wrapper awaiting the forward did the same with a state machine of its own
/// per request: ≈ 1,200 of a request's ≈ 53,000 instructions (perf-baselines/CHANGES.md, round 14).
/// </remarks>
internal sealed class ConcurrencyLimit(int maxInFlight)
{
    private int _inFlight;

    /// <summary>Takes a slot; false (and nothing taken) when all are in use.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _inFlight) > maxInFlight)
        {
            Interlocked.Decrement(ref _inFlight);
            return false;
        }

        return true;
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);
}
