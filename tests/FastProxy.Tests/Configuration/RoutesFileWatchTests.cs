using System.Diagnostics.Metrics;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static FastProxy.Tests.Support.ExampleEndpoints;

namespace FastProxy.Tests.Configuration;

/// <summary>A routes file read again while running: applied as a whole or refused as a whole, on fake time.</summary>
public sealed class RoutesFileWatchTests : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-routes-watch-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero));
    private readonly CapturingLogger _logger = new();
    private readonly Meter _meter = new("test-routes-watch");
    private readonly ScriptedCredential _credential;
    private TokenSources? _tokens;
    private Func<IdentityOptions, TokenCredential?>? _credentialFor;

    public RoutesFileWatchTests() =>
        _credential = new ScriptedCredential().ThenAlways(() => new AccessToken("t", _time.GetUtcNow().AddHours(1)));

    public async ValueTask DisposeAsync()
    {
        if (_tokens is not null)
        {
            await _tokens.StopAsync(CancellationToken.None);
        }

        _meter.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private string PathOf(string name) => Path.Combine(_directory, name);

    private static string Route(string name, string prefix, string target, string? identity = null) =>
        $$"""{"name":"{{name}}","pathPrefix":"{{prefix}}","target":"{{target}}"{{(identity is null ? "" : $",\"identity\":{identity}")}}}""";

    private static string File(params string[] routes) => $$"""{"routes":[{{string.Join(",", routes)}}]}""";

    /// <summary>Loads the file as start-up does, starts its token sources and returns the watch and the route table.</summary>
    private async Task<(RoutesFileWatch Watch, RouteTable Table)> StartAsync(string name, string content)
    {
        await System.IO.File.WriteAllTextAsync(PathOf(name), content, TestContext.Current.CancellationToken);
        var environment = new Dictionary<string, string> { ["ROUTES_FILE"] = PathOf(name), ["IDENTITY_TYPE"] = "systemassigned" };
        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
        var options = loaded.Options!;
        using var loggers = LoggerFactory.Create(b => b.AddProvider(_logger));
        _tokens = TokenSources.Create(options, _credential, _time, loggers, identity => _credentialFor?.Invoke(identity) ?? _credential);
        await _tokens.StartAsync(CancellationToken.None);
        await Task.WhenAll(_tokens.All.Select(s => s.FirstToken)).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var table = new RouteTable(options.Routes.Select(r => new ProxyRoute(r, _tokens.For(r))));
        return (new RoutesFileWatch(options.RoutesFile!, _tokens, table, _time, _logger, _meter), table);
    }

    private Task Rewrite(string name, string content) =>
        System.IO.File.WriteAllTextAsync(PathOf(name), content, TestContext.Current.CancellationToken);

    [Fact]
    public async Task ValidChange_MovesRequestsToTheNewRoutes_AndKeepsUnchangedSources()
    {
        var (watch, table) = await StartAsync("routes.json", File(Route("all", "/", Ingest)));
        var ingestionSource = table.Match("/dataCollectionRules/dcr-1")!.Tokens;

        await Rewrite("routes.json", File(Route("all", "/", Ingest), Route("query", "/api/v1/", Query, $$"""{"type":"userassigned","clientId":"{{ClientId}}"}""")));
        var outcome = await watch.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(RoutesCheckOutcome.Applied, outcome);
        var query = table.Match("/api/v1/query?query=up")!;
        Assert.Equal(("query", Query), (query.Name, query.Target.Base));
        Assert.NotNull(query.Tokens.Current); // the new source's first token came before the route moved
        Assert.Same(ingestionSource, table.Match("/dataCollectionRules/dcr-1")!.Tokens); // held token and refresh timing carry on
        Assert.Equal(2, _tokens!.All.Count);
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 110 && e.Message.Contains("2 route(s) now in force; 1 token source(s) started, 0 retired", StringComparison.Ordinal));
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 111 && e.Message.Contains($"route query: /api/v1/* -> {Query}", StringComparison.Ordinal));

        // Read again without a change: nothing happens.
        Assert.Equal(RoutesCheckOutcome.Unchanged, await watch.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task YamlFile_IsReadAgainToo()
    {
        var (watch, table) = await StartAsync("routes.yaml", $"routes:\n  - {{name: all, pathPrefix: /, target: {Ingest}}}\n");

        await Rewrite("routes.yaml", $"routes:\n  - {{name: all, pathPrefix: /, target: {Ingest}}}\n  - {{name: query, path: /api/v1/query, target: {Query}/api/v1/query}}\n");

        Assert.Equal(RoutesCheckOutcome.Applied, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Equal("query", table.Match("/api/v1/query")!.Name);
    }

    [Fact]
    public async Task RemovedRoute_ItsSourceStopsRefreshing()
    {
        _credential.ThenAlways(() => new AccessToken("t", _time.GetUtcNow().AddMinutes(10)));
        var (watch, table) = await StartAsync("routes.json", File(Route("all", "/", Ingest), Route("query", "/api/v1/", Query)));
        var querySource = table.Match("/api/v1/query")!.Tokens;
        while (_credential.CallLog.TryRead(out _))
        {
        }

        await Rewrite("routes.json", File(Route("all", "/", Ingest)));
        Assert.Equal(RoutesCheckOutcome.Applied, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.DoesNotContain(querySource, _tokens!.All);
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 110 && e.Message.Contains("0 token source(s) started, 1 retired", StringComparison.Ordinal));

        // Both ten-minute tokens fell due within the same minute; over half an hour of fake time
        // the ingestion source refreshes (about three times) and the retired query source never does.
        var refreshed = new List<string>();
        void Drain()
        {
            while (_credential.CallLog.TryRead(out var call))
            {
                refreshed.Add(call.Scopes[0]);
            }
        }

        for (var minute = 0; minute < 30; minute++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
            await Task.WhenAny(_credential.CallLog.WaitToReadAsync(TestContext.Current.CancellationToken).AsTask(), Task.Delay(10, TestContext.Current.CancellationToken));
            Drain();
        }

        if (!refreshed.Contains(Audience.IngestionScope))
        {
            var call = await _credential.CallLog.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            refreshed.Add(call.Scopes[0]);
            Drain();
        }

        Assert.Contains(Audience.IngestionScope, refreshed);
        Assert.DoesNotContain(Audience.QueryScope, refreshed);
    }

    [Fact]
    public async Task InvalidChange_IsRefusedWithALinePerProblem_AndTheRoutesStay()
    {
        var (watch, table) = await StartAsync("routes.json", File(Route("all", "/", Ingest)));

        await Rewrite("routes.json", File(Route("all", "/", "ftp://h"), Route("query", "api", Query)));
        var outcome = await watch.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(RoutesCheckOutcome.Refused, outcome);
        Assert.Equal(("all", Ingest), (table.Match("/api/v1/query")!.Name, table.Match("/api/v1/query")!.Target.Base));
        var refused = _logger.Entries.Where(e => e.EventId.Id == 112).ToList();
        Assert.Equal(2, refused.Count);
        Assert.Contains(refused, e => e.Level == LogLevel.Warning && e.Message.Contains("target scheme 'ftp' is not supported", StringComparison.Ordinal));
        Assert.Contains(refused, e => e.Message.Contains("must start with '/'", StringComparison.Ordinal));
        Assert.All(refused, e => Assert.Contains("the routes in force stay", e.Message, StringComparison.Ordinal));

        // The same broken content is not reported again every ten seconds.
        Assert.Equal(RoutesCheckOutcome.Unchanged, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2, _logger.Entries.Count(e => e.EventId.Id == 112));

        // Fixed: applied.
        await Rewrite("routes.json", File(Route("all", "/", Ingest), Route("query", "/api/v1/", Query)));
        Assert.Equal(RoutesCheckOutcome.Applied, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Equal("query", table.Match("/api/v1/query")!.Name);
    }

    [Fact]
    public async Task ChangeThatCannotBeApplied_IsRefused_AndTheRoutesStay()
    {
        _credentialFor = _ => throw new InvalidOperationException("no credential for you");
        var (watch, table) = await StartAsync("routes.json", File(Route("all", "/", Ingest)));

        await Rewrite("routes.json", File(Route("all", "/", Ingest), Route("query", "/api/v1/", Query, $$"""{"type":"userassigned","clientId":"{{ClientId}}"}""")));

        Assert.Equal(RoutesCheckOutcome.Refused, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 112 && e.Message.EndsWith("applying it failed (InvalidOperationException); restart FastProxy to apply the file", StringComparison.Ordinal));
        Assert.Equal("all", table.Match("/api/v1/query")!.Name);
        Assert.Single(_tokens!.All);

        // The bookkeeping was left as it was: the next change applies cleanly.
        _credentialFor = null;
        await Rewrite("routes.json", File(Route("all", "/", Ingest), Route("query", "/api/v1/", Query, $$"""{"type":"userassigned","clientId":"{{ClientId}}"}"""), Route("x", "/x/", Ingest)));
        Assert.Equal(RoutesCheckOutcome.Applied, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Equal("query", table.Match("/api/v1/query")!.Name);
        Assert.Equal(2, _tokens.All.Count);
    }

    [Fact]
    public async Task DeletedFile_IsRefused_AndTheRoutesStay()
    {
        var (watch, table) = await StartAsync("routes.json", File(Route("all", "/", Ingest)));

        System.IO.File.Delete(PathOf("routes.json"));

        Assert.Equal(RoutesCheckOutcome.Refused, await watch.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Contains(_logger.Entries, e => e.EventId.Id == 112 && e.Message.Contains("does not exist", StringComparison.Ordinal));
        Assert.Equal("all", table.Match("/x")!.Name);
    }

    [Fact]
    public async Task RunningWatch_ChecksEveryTenSeconds()
    {
        var (watch, table) = await StartAsync("routes.json", File(Route("all", "/", Ingest)));
        var applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        watch.Checked += outcome =>
        {
            if (outcome == RoutesCheckOutcome.Applied)
            {
                applied.TrySetResult();
            }
        };
        await watch.StartAsync(CancellationToken.None);
        try
        {
            await Rewrite("routes.json", File(Route("all", "/", Ingest), Route("query", "/api/v1/", Query)));
            // Bounded steps of fake time until the watch's ten-second timer has fired and applied the change.
            for (var step = 0; step < 100 && !applied.Task.IsCompleted; step++)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                await Task.WhenAny(applied.Task, Task.Delay(10, TestContext.Current.CancellationToken));
            }

            await applied.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.Equal("query", table.Match("/api/v1/query")!.Name);
        }
        finally
        {
            await watch.StopAsync(CancellationToken.None);
        }
    }
}
