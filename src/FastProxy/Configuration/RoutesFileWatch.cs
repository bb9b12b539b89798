using System.Diagnostics.Metrics;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FastProxy.Configuration;

/// <summary>
/// Reads ROUTES_FILE again when it changes and puts the new routes in force without a restart —
/// in the sidecar a restart of FastProxy's container is a restart of the Prometheus pod.
/// </summary>
/// <remarks>
/// <para>
/// Polled, not watched: a ConfigMap volume changes by swapping a symlink, which file-system
/// events report unreliably, and reading a small file every <see cref="CheckInterval"/> costs
/// nothing. The kubelet itself takes up to a minute or two to update the volume.
/// </para>
/// <para>
/// A file that does not pass every start-up check is refused as a whole, with a log line per
/// problem, and the routes in force stay: a typo in a ConfigMap must never stop the data flow.
/// A valid one is applied in this order, so that no request finds a route without a token
/// source: token sources for new (identity, audience) pairs start and get (bounded by
/// <see cref="FirstTokenWait"/>) their first answer, then the route table is replaced in one
/// step, then the sources no route uses any more stop refreshing. Requests already under way
/// finish on the route they started with. Only the file's routes change; every other setting,
/// and ROUTES_FILE itself, are read at start-up only.
/// </para>
/// </remarks>
internal sealed class RoutesFileWatch : BackgroundService
{
    /// <summary>How often the file is read for a change.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(10);

    /// <summary>How long a change waits for new token sources' first answer before the routes move anyway.</summary>
    public static readonly TimeSpan FirstTokenWait = TimeSpan.FromSeconds(10);

    private readonly RoutesFileSource _file;
    private readonly TokenSources _tokens;
    private readonly RouteTable _routes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter<long> _reloads;
    private byte[]? _lastSeen;

    public RoutesFileWatch(RoutesFileSource file, TokenSources tokens, RouteTable routes, TimeProvider time, ILogger logger, Meter meter)
    {
        _file = file;
        _tokens = tokens;
        _routes = routes;
        _time = time;
        _logger = logger;
        _reloads = meter.CreateCounter<long>("fastproxy_routes_file_reloads_total", "{change}",
            "Changes of ROUTES_FILE seen while running: applied, or refused (the routes in force stay; the log says why).");
        // The file as start-up read it (moments ago): only a change from here on is applied.
        _lastSeen = RoutesFile.ReadBytes(file.Path, _ => { });
    }

    /// <summary>Raised after each check with what it found (tests wait on it instead of on time).</summary>
    internal event Action<RoutesCheckOutcome>? Checked;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CheckInterval, _time, stoppingToken);
                await CheckAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // A background service that throws stops the host: a routes file must never do that.
                Log.RoutesRefused(_logger, _file.Path, $"reading it failed ({ex.GetType().Name})");
            }
        }
    }

    /// <summary>Reads the file once and applies or refuses a change.</summary>
    internal async Task<RoutesCheckOutcome> CheckAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var bytes = RoutesFile.ReadBytes(_file.Path, problems.Add);
        var outcome = RoutesCheckOutcome.Unchanged;
        if (bytes is null ? _lastSeen is not null : _lastSeen is null || !bytes.AsSpan().SequenceEqual(_lastSeen))
        {
            _lastSeen = bytes;
            var routes = bytes is null ? [] : RoutesFile.FromBytes(bytes, _file.Path, _file.Context, problems.Add);
            if (problems.Count > 0)
            {
                foreach (var problem in problems)
                {
                    Log.RoutesRefused(_logger, _file.Path, problem);
                }

                _reloads.Add(1, new KeyValuePair<string, object?>("outcome", "refused"));
                outcome = RoutesCheckOutcome.Refused;
            }
            else
            {
                try
                {
                    await ApplyAsync(routes, cancellationToken);
                    _reloads.Add(1, new KeyValuePair<string, object?>("outcome", "applied"));
                    outcome = RoutesCheckOutcome.Applied;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Nothing known throws here (identities were validated, credentials read their
                    // files lazily); should something, the process keeps serving what it has.
                    Log.RoutesRefused(_logger, _file.Path, $"applying it failed ({ex.GetType().Name}); restart FastProxy to apply the file");
                    _reloads.Add(1, new KeyValuePair<string, object?>("outcome", "refused"));
                    outcome = RoutesCheckOutcome.Refused;
                }
            }
        }

        Checked?.Invoke(outcome);
        return outcome;
    }

    private async Task ApplyAsync(List<RouteDefinition> routes, CancellationToken cancellationToken)
    {
        var (added, unused) = _tokens.Replace(routes);
        if (added.Count > 0)
        {
            try
            {
                await Task.WhenAll(added.Select(s => s.FirstAttempt)).WaitAsync(FirstTokenWait, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // The routes move anyway: their requests get 503 until the token comes, which
                // Prometheus retries, and /ready says which source is waiting.
            }
        }

        _routes.Replace(routes.Select(r => new ProxyRoute(r, _tokens.For(r))));
        _tokens.Retire(unused);
        Log.RoutesApplied(_logger, _file.Path, routes.Count, added.Count, unused.Count);
        foreach (var line in routes.Select(ProxyOptions.DescribeRoute))
        {
            Log.RouteInForce(_logger, _file.Path, line);
        }
    }
}

/// <summary>What one look at the routes file found.</summary>
internal enum RoutesCheckOutcome
{
    Unchanged,
    Applied,
    Refused,
}
