using Azure.Core;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging;

namespace FastProxy.Identity;

/// <summary>
/// Holds the current token for one (identity, scope) and keeps it fresh in the background.
/// Requests read <see cref="Current"/> and never wait for Entra; one loop per source fetches
/// tokens (single flight by construction), retries failures with capped exponential backoff and
/// jitter, and keeps serving the held token until it is no longer usable.
/// </summary>
internal sealed class TokenSource
{
    // Above MSAL's own managed-identity retry window (~25 s for a 5xx), so that a failing endpoint
    // is reported with its status rather than as a timeout.
    internal static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(60);
    internal static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);
    internal static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly TokenCredential _credential;
    private readonly TokenRequestContext _request;
    private readonly int _refreshPercentage;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    // Written only by the refresh loop; read by every request. Reference writes are atomic and the
    // snapshot is immutable, so Volatile.Read/Write is all the synchronisation needed.
    private AccessTokenSnapshot? _current;
    private volatile string? _lastFailure;
    private long _totalFailures;
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _firstToken = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TokenSource(string name, string scope, TokenCredential credential, int refreshPercentage, TimeProvider time, ILogger logger,
        string identity = "")
    {
        Name = name;
        Scope = scope;
        Identity = identity;
        _credential = credential;
        _request = new TokenRequestContext([scope]);
        _refreshPercentage = refreshPercentage;
        _time = time;
        _logger = logger;
    }

    public string Name { get; }
    public string Scope { get; }

    /// <summary>Who asks for the token (<see cref="Configuration.IdentityOptions.MetricLabel"/>): a metric label beside the scope.</summary>
    public string Identity { get; }

    /// <summary>The held token, or null before the first one arrives.</summary>
    public AccessTokenSnapshot? Current => Volatile.Read(ref _current);

    /// <summary>Why the last fetch failed, or null after a success. Never holds secrets.</summary>
    public string? LastFailure => _lastFailure;

    /// <summary>Completes after the first fetch attempt, successful or not.</summary>
    public Task FirstAttempt => _firstAttempt.Task;

    /// <summary>The <see cref="TokenFailure.Classify"/> kind of the last failure (a metric label), or null before any.</summary>
    public string? LastFailureKind { get; private set; }

    /// <summary>Completes when the first token is held; never faults.</summary>
    public Task FirstToken => _firstToken.Task;

    /// <summary>Number of consecutive failed fetches (for backoff and diagnostics).</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>
    /// Every failed fetch since start, retries included; only grows. Cheap to read at any time, for
    /// a metric (a counter per token source).
    /// </summary>
    public long TotalFailures => Interlocked.Read(ref _totalFailures);

    public bool HasUsableToken(DateTimeOffset now) => Current is { } token && token.IsUsableAt(now);

    /// <summary>The refresh loop; returns when <paramref name="stopping"/> is cancelled, never throws.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var delay = await RefreshOnceAsync(stopping);
            _firstAttempt.TrySetResult();
            try
            {
                await Task.Delay(delay, _time, stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        _firstAttempt.TrySetResult();
    }

    /// <summary>Fetches one token and returns how long to wait before the next attempt.</summary>
    internal async Task<TimeSpan> RefreshOnceAsync(CancellationToken stopping)
    {
        var started = _time.GetTimestamp();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(FetchTimeout);
            AccessToken token;
            try
            {
                token = await _credential.GetTokenAsync(_request, timeout.Token);
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                throw new TimeoutException($"the identity endpoint did not answer within {FetchTimeout.TotalSeconds:0} s");
            }

            var now = _time.GetUtcNow();
            if (token.ExpiresOn <= now)
            {
                throw new InvalidOperationException($"the identity endpoint returned a token that expired at {token.ExpiresOn:O}");
            }

            var snapshot = AccessTokenSnapshot.Create(token, now, _refreshPercentage, Random.Shared.NextDouble());
            var held = Current;
            if (held is not null && snapshot.IsSameTokenAs(held))
            {
                // The credential answered from its cache (MSAL refreshes some tokens in the
                // background). Keep the held token and ask again soon rather than at its old time.
                return Clamp(TimeSpan.FromTicks((held.UsableUntil - now).Ticks / 4), MinBackoff, MaxBackoff);
            }

            Volatile.Write(ref _current, snapshot);
            if (_lastFailure is not null)
            {
                Log.TokenRecovered(_logger, Name, ConsecutiveFailures);
            }

            _lastFailure = null;
            ConsecutiveFailures = 0;
            var elapsed = _time.GetElapsedTime(started);
            Log.TokenAcquired(_logger, Name, snapshot.ExpiresOn, snapshot.RefreshOn, elapsed.TotalMilliseconds);
            // Last: whoever waits for the first token finds the failure state cleared and the
            // recovery logged (a test saw the token before the log line once).
            _firstToken.TrySetResult();
            return Max(snapshot.RefreshOn - now, MinBackoff);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return TimeSpan.Zero;
        }
        catch (Exception ex)
        {
            ConsecutiveFailures++;
            Interlocked.Increment(ref _totalFailures);
            var reason = TokenFailure.Describe(ex);
            LastFailureKind = TokenFailure.Classify(ex);
            // One line per distinct failure, not one per retry: a flapping endpoint must not
            // bury the log. Repeats are visible at Debug and in /ready.
            if (!string.Equals(reason, _lastFailure, StringComparison.Ordinal))
            {
                Log.TokenFetchFailed(_logger, Name, reason, Current?.UsableUntil);
            }
            else
            {
                Log.TokenFetchFailedAgain(_logger, Name, ConsecutiveFailures, reason);
            }

            _lastFailure = reason;
            return Backoff(ConsecutiveFailures, Random.Shared.NextDouble());
        }
    }

    /// <summary>Capped exponential backoff with ±20 % jitter.</summary>
    internal static TimeSpan Backoff(int failures, double jitter)
    {
        var exponent = Math.Min(failures - 1, 16);
        var baseDelay = Math.Min(MinBackoff.TotalSeconds * Math.Pow(2, exponent), MaxBackoff.TotalSeconds);
        return TimeSpan.FromSeconds(baseDelay * (0.8 + (0.4 * jitter)));
    }

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) =>
        value < min ? min : value > max ? max : value;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
