namespace FastProxy.Forwarding;

/// <summary>
/// One cancellation source per proxied request that fires when the client goes away or when
/// nothing has moved for the configured time. Resetting on progress makes the timeout measure
/// silence, not total duration, so a 1 GiB body that keeps flowing is never cut off; and it can
/// tell "client left" from "target timed out", which map to different answers.
/// </summary>
internal sealed class ActivityTimeout : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly CancellationToken _clientAborted;
    private readonly TimeSpan _timeout;

    public ActivityTimeout(TimeSpan timeout, TimeProvider time, CancellationToken clientAborted)
    {
        _clientAborted = clientAborted;
        _timeout = timeout;
        _source = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        ClientRegistration = clientAborted.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _source);
        _source.CancelAfter(timeout);
    }

    private CancellationTokenRegistration ClientRegistration { get; }

    public CancellationToken Token => _source.Token;

    public bool ClientAborted => _clientAborted.IsCancellationRequested;

    /// <summary>True when the source fired because of silence rather than the client.</summary>
    public bool TimedOut => _source.IsCancellationRequested && !_clientAborted.IsCancellationRequested;

    /// <summary>Records progress: the silence timer starts again.</summary>
    public void Touch() => _source.CancelAfter(_timeout);

    public void Dispose()
    {
        ClientRegistration.Dispose();
        _source.Dispose();
    }
}
