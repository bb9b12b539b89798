using Azure.Core;
using FastProxy.Configuration;
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

    public TokenSources(IReadOnlyList<TokenSource> sources, TimeProvider time)
    {
        All = sources;
        _time = time;
    }

    public IReadOnlyList<TokenSource> All { get; }

    public static TokenSources Create(ProxyOptions options, TokenCredential credential, TimeProvider time, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("FastProxy.Identity");
        var sources = options.Routes
            .Select(r => r.Scope)
            .Distinct(StringComparer.Ordinal)
            .Select(scope => new TokenSource(scope, scope, credential, options.RefreshPercentage, time, logger))
            .ToList();
        return new TokenSources(sources, time);
    }

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

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(All.Select(source => Task.Run(() => source.RunAsync(stoppingToken), CancellationToken.None)));
}
