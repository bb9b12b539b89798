using FastProxy.Configuration;
using FastProxy.Identity;

namespace FastProxy.Forwarding;

/// <summary>A configured route with what forwarding needs at hand: its target and token source.</summary>
internal sealed class ProxyRoute
{
    public ProxyRoute(RouteDefinition options, TokenSource tokens)
    {
        Name = options.Name;
        ExactPath = options.ExactPath;
        PathPrefix = options.PathPrefix;
        Target = options.Target;
        Tokens = tokens;
        // HTTP/2 (with multiple connections) where an https target offers it through ALPN; plain
        // http targets get HTTP/1.1, since h2c upgrade is not something Azure or in-cluster
        // targets negotiate.
        Version = Target.IsHttps ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11;
        VersionPolicy = Target.IsHttps ? HttpVersionPolicy.RequestVersionOrLower : HttpVersionPolicy.RequestVersionExact;
    }

    public string Name { get; }
    public string? ExactPath { get; }

    /// <summary>Matched against the start of the path; null for exact routes and the catch-all.</summary>
    public string? PathPrefix { get; }
    public TargetAddress Target { get; }
    public TokenSource Tokens { get; }
    public Version Version { get; }
    public HttpVersionPolicy VersionPolicy { get; }

    // The last request target and its Uri. Prometheus posts to one path, so nearly every request
    // reuses it instead of parsing a new Uri (≈ 300 B and a parse per request). Uri is immutable
    // and the pair is swapped as one object, so readers need no lock.
    private volatile CachedTarget? _lastTarget;

    private sealed record CachedTarget(string RawTarget, Uri Uri);

    /// <summary>
    /// The upstream <see cref="Uri"/> with canonicalisation off, so that the path and query reach
    /// the target exactly as the client wrote them (percent-encoding, dot segments and all).
    /// </summary>
    public Uri TargetUri(string rawTarget)
    {
        var cached = _lastTarget;
        if (cached is not null && string.Equals(cached.RawTarget, rawTarget, StringComparison.Ordinal))
        {
            return cached.Uri;
        }

        var uri = new Uri(BuildTargetUrl(rawTarget), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        _lastTarget = new CachedTarget(rawTarget, uri);
        return uri;
    }

    /// <summary>
    /// The upstream URL: for prefix routes the target base followed by the client's request
    /// target byte for byte; for exact routes the configured URL, with the client's query appended.
    /// </summary>
    public string BuildTargetUrl(string rawTarget)
    {
        if (ExactPath is null)
        {
            return string.Concat(Target.Base, rawTarget);
        }

        var query = rawTarget.IndexOf('?', StringComparison.Ordinal);
        if (query < 0 || query == rawTarget.Length - 1)
        {
            return Target.Base;
        }

        var separator = Target.PathAndQuery.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        return string.Concat(Target.Base, separator, rawTarget.AsSpan(query + 1));
    }
}

/// <summary>
/// Selects the route for a request: exact paths first, then the longest matching path prefix,
/// then the catch-all (TARGET_HOST's route). Case-sensitive like URLs, on the raw path (the
/// request target up to '?'), and without allocating: spans and arrays built once.
/// </summary>
/// <remarks>
/// A changed routes file replaces the whole table at once (<see cref="Replace"/>): a request reads
/// one immutable snapshot, so it sees either the old routes or the new ones, never a mixture.
/// </remarks>
internal sealed class RouteTable
{
    private volatile Snapshot _snapshot;

    public RouteTable(IEnumerable<ProxyRoute> routes) => _snapshot = new Snapshot(routes.ToArray());

    public IReadOnlyList<ProxyRoute> All => _snapshot.All;

    /// <summary>Puts <paramref name="routes"/> in force for every request that starts from now on.</summary>
    public void Replace(IEnumerable<ProxyRoute> routes) => _snapshot = new Snapshot(routes.ToArray());

    /// <summary>The route for <paramref name="rawTarget"/>, or null when none matches (a routes file without "/").</summary>
    public ProxyRoute? Match(ReadOnlySpan<char> rawTarget) => _snapshot.Match(rawTarget);

    private sealed class Snapshot
    {
        private readonly ProxyRoute[] _exact;
        private readonly ProxyRoute[] _prefixes;
        private readonly ProxyRoute? _fallback;

        public Snapshot(ProxyRoute[] all)
        {
            All = all;
            _exact = all.Where(r => r.ExactPath is not null).ToArray();
            // Longest first, so the first match is the most specific; ties cannot happen (the routes
            // file rejects duplicate prefixes), the stable sort keeps file order anyway.
            _prefixes = all.Where(r => r.ExactPath is null && r.PathPrefix is not null)
                .OrderByDescending(r => r.PathPrefix!.Length).ToArray();
            _fallback = all.FirstOrDefault(r => r.ExactPath is null && r.PathPrefix is null);
        }

        public ProxyRoute[] All { get; }

        public ProxyRoute? Match(ReadOnlySpan<char> rawTarget)
        {
            if (_exact.Length > 0 || _prefixes.Length > 0)
            {
                var query = rawTarget.IndexOf('?');
                var path = query >= 0 ? rawTarget[..query] : rawTarget;
                foreach (var route in _exact)
                {
                    if (path.SequenceEqual(route.ExactPath))
                    {
                        return route;
                    }
                }

                foreach (var route in _prefixes)
                {
                    if (path.StartsWith(route.PathPrefix, StringComparison.Ordinal))
                    {
                        return route;
                    }
                }
            }

            return _fallback;
        }
    }
}
