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
/// <remarks>
/// A changed routes file brings a new set (<see cref="Replace"/>): sources whose (identity, scope)
/// is still wanted carry on with their held token and refresh timing, new ones start at once, and
/// the ones no route uses any more are stopped by <see cref="Retire"/> once the new routes are in
/// force. Credentials are kept per identity for the life of the process, so a certificate or a
/// federated token file is not read again because a route moved.
/// </remarks>
internal sealed class TokenSources : BackgroundService
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _waitForToken;
    private readonly ILogger? _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<TokenSource, (CancellationTokenSource Stop, Task Loop)> _running = [];
    private volatile TokenSource[] _all;
    private volatile Dictionary<string, TokenSource>? _byRoute;
    private CancellationToken _stopping;
    private bool _started;

    // What building sources for a routes list needs; null for a fixed list (tests).
    private Builder? _builder;

    public TokenSources(IReadOnlyList<TokenSource> sources, TimeProvider time, TimeSpan waitForToken = default, ILogger? logger = null)
    {
        _all = [.. sources];
        _time = time;
        _waitForToken = waitForToken;
        _logger = logger;
    }

    /// <summary>The sources the current routes use; a new array after each <see cref="Replace"/>.</summary>
    public IReadOnlyList<TokenSource> All => _all;

    /// <param name="credential">The process identity's credential (routes without an identity of their own).</param>
    /// <param name="credentialFor">Builds the credential of a route's own identity (routes file); called once per distinct identity.</param>
    public static TokenSources Create(ProxyOptions options, TokenCredential credential, TimeProvider time, ILoggerFactory loggers,
        Func<IdentityOptions, TokenCredential>? credentialFor = null)
    {
        var logger = loggers.CreateLogger("FastProxy.Identity");
        var builder = new Builder(options, credential, credentialFor ?? (i => CredentialFactory.Create(i)), time, logger);
        var (sources, byRoute) = builder.Build(options.Routes, []);
        if (options.Routes.Count == 0 && options.Identity.Type == IdentityType.AzureCli)
        {
            Log.DevelopmentCredential(logger);
        }

        return new TokenSources(sources, time, options.WaitForToken, logger) { _byRoute = byRoute, _builder = builder };
    }

    /// <summary>
    /// Makes <paramref name="routes"/> the routes whose sources are kept: reuses the sources of
    /// unchanged (identity, scope) pairs, creates and (once running) starts the others, and returns
    /// the sources this created and those no route uses any more — pass the latter to
    /// <see cref="Retire"/> after the new routes are in force.
    /// </summary>
    public (IReadOnlyList<TokenSource> Added, IReadOnlyList<TokenSource> Unused) Replace(IReadOnlyList<RouteDefinition> routes)
    {
        var builder = _builder ?? throw new InvalidOperationException("These token sources were not built from routes.");
        lock (_gate)
        {
            var previous = _all;
            var (sources, byRoute) = builder.Build(routes, previous);
            var added = sources.Except(previous).ToArray();
            var unused = previous.Except(sources).ToArray();
            _all = [.. sources];
            _byRoute = byRoute;
            if (_started)
            {
                foreach (var source in added)
                {
                    StartLoop(source);
                }
            }

            return (added, unused);
        }
    }

    /// <summary>Stops the refresh loops of sources no route uses any more; their held tokens stay with requests already under way.</summary>
    public void Retire(IEnumerable<TokenSource> unused)
    {
        lock (_gate)
        {
            foreach (var source in unused)
            {
                if (_running.Remove(source, out var loop))
                {
                    loop.Stop.Cancel();
                    _ = loop.Loop.ContinueWith(static (_, stop) => ((CancellationTokenSource)stop!).Dispose(), loop.Stop,
                        CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }
        }
    }

    /// <summary>The source that serves <paramref name="route"/>: its identity (or the process identity) and its scope.</summary>
    public TokenSource For(RouteDefinition route) =>
        _byRoute is { } byRoute && byRoute.TryGetValue(route.Name, out var source) ? source : For(route.Scope);

    /// <summary>Failed fetches of the sources in use, each since it started (see <see cref="TokenSource.TotalFailures"/>).</summary>
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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lock (_gate)
        {
            _stopping = stoppingToken;
            _started = true;
            foreach (var source in _all)
            {
                StartLoop(source);
            }
        }

        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }

        Task[] loops;
        lock (_gate)
        {
            loops = [.. _running.Values.Select(r => r.Loop)];
        }

        await Task.WhenAll(loops);
    }

    /// <summary>Runs <paramref name="source"/>'s refresh loop until the host stops or the source is retired. Called under the gate.</summary>
    private void StartLoop(TokenSource source)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        _running[source] = (stop, Task.Run(() => source.RunAsync(stop.Token), CancellationToken.None));
    }

    /// <summary>
    /// Builds the sources of a routes list: one credential per distinct identity (kept across
    /// rebuilds), one source per distinct (identity, scope), reusing the given sources' where the
    /// pair is unchanged.
    /// </summary>
    private sealed class Builder(ProxyOptions options, TokenCredential processCredential, Func<IdentityOptions, TokenCredential> credentialFor,
        TimeProvider time, ILogger logger)
    {
        // Identities are compared by their description: it names the type, the ids and where the material lives.
        private readonly Dictionary<string, TokenCredential> _credentials = new(StringComparer.Ordinal);
        private readonly Dictionary<TokenSource, (string Identity, string Scope)> _keys = [];

        public (List<TokenSource> Sources, Dictionary<string, TokenSource> ByRoute) Build(IReadOnlyList<RouteDefinition> routes, IReadOnlyList<TokenSource> existing)
        {
            var sources = new List<TokenSource>();
            var sourceFor = existing.Where(_keys.ContainsKey).ToDictionary(s => _keys[s], s => s);
            var used = new Dictionary<(string, string), TokenSource>();
            var byRoute = new Dictionary<string, TokenSource>(StringComparer.Ordinal);
            var created = new List<(TokenSource Source, (string, string) Key)>();
            foreach (var route in routes)
            {
                var identity = route.Identity ?? options.Identity;
                var key = (route.Identity is null ? "" : identity.Describe(), route.Scope);
                if (!used.TryGetValue(key, out var source))
                {
                    if (!sourceFor.TryGetValue(key, out source))
                    {
                        // The process identity's sources keep the scope as their name; a route identity's
                        // add who asks, so /ready and the log tell two sources of one scope apart.
                        var name = key.Item1.Length == 0 ? route.Scope : $"{route.Scope} as {identity.Describe()}";
                        source = new TokenSource(name, route.Scope, CredentialOf(key.Item1, route.Identity, identity), options.RefreshPercentage, time, logger, identity.MetricLabel);
                        created.Add((source, key));
                    }

                    used[key] = source;
                    sources.Add(source);
                }

                byRoute[route.Name] = source;
            }

            // Only once the whole list is built, so a failure part-way leaves the bookkeeping as it was.
            foreach (var (source, key) in created)
            {
                _keys[source] = key;
            }

            foreach (var gone in existing.Except(sources))
            {
                _keys.Remove(gone);
            }

            return (sources, byRoute);
        }

        private TokenCredential CredentialOf(string key, IdentityOptions? routeIdentity, IdentityOptions identity)
        {
            if (_credentials.TryGetValue(key, out var credential))
            {
                return credential;
            }

            credential = routeIdentity is null ? processCredential : credentialFor(identity);
            _credentials[key] = credential;
            if (credential is IMaterialLogging material)
            {
                material.Logger = logger;
            }

            if (identity.Type == IdentityType.AzureCli)
            {
                Log.DevelopmentCredential(logger);
            }

            return credential;
        }
    }
}
