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

    /// <param name="credential">The process identity's credential (routes without an identity of their own).</param>
    /// <param name="credentialFor">Builds the credential of a route's own identity (routes file); called once per distinct identity.</param>
    public static TokenSources Create(ProxyOptions options, TokenCredential credential, TimeProvider time, ILoggerFactory loggers,
        Func<IdentityOptions, TokenCredential>? credentialFor = null)
    {
        var logger = loggers.CreateLogger("FastProxy.Identity");
        // One credential per distinct identity, one source per distinct (identity, scope). Identities
        // are compared by their description: it names the type, the ids and where the material lives.
        var credentials = new Dictionary<string, TokenCredential>(StringComparer.Ordinal);
        var sources = new List<TokenSource>();
        var sourceFor = new Dictionary<(string Identity, string Scope), TokenSource>();
        foreach (var route in options.Routes)
        {
            var identity = route.Identity ?? options.Identity;
            var key = route.Identity is null ? "" : identity.Describe();
            if (!credentials.TryGetValue(key, out var routeCredential))
            {
                routeCredential = route.Identity is null ? credential : (credentialFor ?? (i => CredentialFactory.Create(i)))(identity);
                credentials[key] = routeCredential;
                if (routeCredential is IMaterialLogging material)
                {
                    material.Logger = logger;
                }

                if (identity.Type == IdentityType.AzureCli)
                {
                    Log.DevelopmentCredential(logger);
                }
            }

            if (!sourceFor.ContainsKey((key, route.Scope)))
            {
                // The process identity's sources keep the scope as their name; a route identity's
                // add who asks, so /ready and the log tell two sources of one scope apart.
                var name = key.Length == 0 ? route.Scope : $"{route.Scope} as {identity.Describe()}";
                var source = new TokenSource(name, route.Scope, routeCredential, options.RefreshPercentage, time, logger, identity.MetricLabel);
                sourceFor[(key, route.Scope)] = source;
                sources.Add(source);
            }
        }

        if (options.Routes.Count == 0 && options.Identity.Type == IdentityType.AzureCli)
        {
            Log.DevelopmentCredential(logger);
        }

        var table = sourceFor;
        return new TokenSources(sources, time, options.WaitForToken, logger)
        {
            _byRoute = options.Routes.ToDictionary(r => r.Name, r => table[(r.Identity is null ? "" : r.Identity.Describe(), r.Scope)], StringComparer.Ordinal),
        };
    }

    private Dictionary<string, TokenSource>? _byRoute;

    /// <summary>The source that serves <paramref name="route"/>: its identity (or the process identity) and its scope.</summary>
    public TokenSource For(RouteDefinition route) =>
        _byRoute is not null && _byRoute.TryGetValue(route.Name, out var source) ? source : For(route.Scope);

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
