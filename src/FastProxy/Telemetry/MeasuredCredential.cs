using Azure.Core;
using FastProxy.Identity;
using Microsoft.Extensions.Logging;

namespace FastProxy.Telemetry;

/// <summary>
/// Wraps the configured credential to time every token fetch and count its outcome, so the identity
/// code needs no metric hooks. The outcome label is <see cref="TokenFailure.Classify"/>'s short
/// kind (never the message, which can name hosts or ids).
/// </summary>
internal sealed class MeasuredCredential : TokenCredential, IMaterialLogging
{
    private readonly TokenCredential _inner;
    private readonly ProxyMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly string _identity;

    /// <param name="identity">The identity's metric label (<see cref="Configuration.IdentityOptions.MetricLabel"/>).</param>
    public MeasuredCredential(TokenCredential inner, string identity, ProxyMetrics metrics, TimeProvider time)
    {
        _inner = inner;
        _identity = identity;
        _metrics = metrics;
        _time = time;
    }

    /// <summary>Passed through, so a certificate or secret-file credential still logs its reloads.</summary>
    public ILogger? Logger
    {
        get => (_inner as IMaterialLogging)?.Logger;
        set
        {
            if (_inner is IMaterialLogging material)
            {
                material.Logger = value;
            }
        }
    }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        try
        {
            var token = _inner.GetToken(requestContext, cancellationToken);
            Record(requestContext, "success", started);
            return token;
        }
        catch (Exception ex)
        {
            Record(requestContext, Outcome(ex, cancellationToken), started);
            throw;
        }
    }

    public override async ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        try
        {
            var token = await _inner.GetTokenAsync(requestContext, cancellationToken);
            Record(requestContext, "success", started);
            return token;
        }
        catch (Exception ex)
        {
            Record(requestContext, Outcome(ex, cancellationToken), started);
            throw;
        }
    }

    // TokenSource cancels a fetch that outlives its timeout; that is a timeout, not "other".
    private static string Outcome(Exception exception, CancellationToken cancellationToken) =>
        exception is OperationCanceledException && cancellationToken.IsCancellationRequested ? "timeout" : TokenFailure.Classify(exception);

    private void Record(TokenRequestContext context, string outcome, long started) =>
        _metrics.TokenFetched(context.Scopes.Length > 0 ? context.Scopes[0] : "", _identity, outcome, _time.GetElapsedTime(started));
}
