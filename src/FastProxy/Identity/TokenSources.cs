using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FastProxy.Identity;

/// <summary>
/// Every token source of the process, one per distinct (identity, scope), and the background
/// service that runs their refresh loops. Routes share a source when they share a scope.
/// </summary>
internal sealed class TokenSources : BackgroundService
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _waitForToken;
    private readonly ILogger? _logger;

    public TokenSources(IReadOnlyList<TokenSource> sources, TimeProvider time, TimeSpan waitForToken = default, ILogger? logger = null)
    {
        All = sources;
        _time = time;
        _waitForToken = waitForToken;
        _logger = logger;
    }

    public IReadOnlyList<TokenSource> All { get; }

    public static TokenSources Create(ProxyOptions options, TokenCredential credential, TimeProvider time, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("FastProxy.Identity");
        if (credential is IMaterialLogging material)
        {
            material.Logger = logger;
        }

        if (options.Identity.Type == IdentityType.AzureCli)
        {
            Log.DevelopmentCredential(logger);
        }

        var sources = options.Routes
            .Select(r => r.Scope)
            .Distinct(StringComparer.Ordinal)
            .Select(scope => new TokenSource(scope, scope, credential, options.RefreshPercentage, time, logger))
            .ToList();
        return new TokenSources(sources, time, options.WaitForToken, logger);
    }

    /// <summary>Failed fetches of every source since start (see <see cref="TokenSource.TotalFailures"/>).</summary>
    public long TotalFailures => All.Sum(s => s.TotalFailures);

    public TokenSource For(string scope) => All.First(s => s.Scope == scope);

    /// <summary>Ready when every source holds a token that may still be sent.</summary>
    public bool IsReady(out TokenSource? notReady)
    {
        var now = _time.GetUtcNow();
        foreach (var source in All)
        {
            if (!source.HasUsableToken(now))
            {
                notReady = source;
                return false;
            }
        }

        notReady = null;
        return true;
    }

    /// <summary>
    /// Starts the refresh loops; with WAIT_FOR_TOKEN_SECONDS, also waits (bounded) for every
    /// source's first token. The host starts hosted services before Kestrel, so this delays the
    /// listener. Running out of time is logged and start-up goes on: never a crash for want of a token.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken);
        if (_waitForToken <= TimeSpan.Zero)
        {
            return;
        }

        var started = _time.GetTimestamp();
        if (_logger is not null)
        {
            Log.WaitingForFirstToken(_logger, _waitForToken.TotalSeconds);
        }

        try
        {
            await Task.WhenAll(All.Select(s => s.FirstToken)).WaitAsync(_waitForToken, _time, cancellationToken);
            var elapsed = _time.GetElapsedTime(started);
            if (_logger is not null)
            {
                Log.FirstTokensHeld(_logger, elapsed.TotalMilliseconds);
            }
        }
        catch (TimeoutException)
        {
            foreach (var source in All.Where(s => !s.FirstToken.IsCompleted))
            {
                if (_logger is not null)
                {
                    Log.FirstTokenTimedOut(_logger, source.Scope, _waitForToken.TotalSeconds, source.LastFailure ?? "no answer yet");
                }
            }
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(All.Select(source => Task.Run(() => source.RunAsync(stoppingToken), CancellationToken.None)));
}
