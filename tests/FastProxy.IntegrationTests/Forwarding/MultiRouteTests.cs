using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.IntegrationTests.Support;
using FastProxy.Listener;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>
/// ROUTES_FILE end to end: two fake upstreams behind one in-process FastProxy, each route with its
/// own target and audience (and one with its own identity), and /ready over every token source.
/// </summary>
public sealed class MultiRouteTests : IAsyncLifetime
{
    private const string UserAssignedClientId = "abcd1234-1243-abcd-9876-1234abcd5678";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-multiroute-").FullName;
    private FakeUpstream _ingestion = null!;
    private FakeUpstream _query = null!;
    private ProxyServer? _server;

    /// <summary>A token per (who, scope): "process|https://monitor.azure.com/.default" etc.; scopes listed in Fail fail.</summary>
    private sealed class PerScopeCredential(string who) : TokenCredential
    {
        public HashSet<string> Fail { get; } = [];

        public static string TokenFor(string who, string scope) => who + "|" + scope;

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            var scope = requestContext.Scopes[0];
            lock (Fail)
            {
                if (Fail.Contains(scope))
                {
                    throw new InvalidOperationException("scripted failure for " + scope);
                }
            }

            return new AccessToken(TokenFor(who, scope), DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    public async ValueTask InitializeAsync()
    {
        _ingestion = await FakeUpstream.StartAsync(PerScopeCredential.TokenFor("process", Audience.IngestionScope));
        _query = await FakeUpstream.StartAsync(PerScopeCredential.TokenFor(UserAssignedClientId, Audience.QueryScope));
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        await _ingestion.DisposeAsync();
        await _query.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task<ProxyServer> StartAsync(string routesJson, PerScopeCredential process, Func<IdentityOptions, TokenCredential> credentialFor)
    {
        var path = Path.Combine(_directory, "routes.json");
        await File.WriteAllTextAsync(path, routesJson, Cancel);
        var environment = new Dictionary<string, string>
        {
            ["ROUTES_FILE"] = path,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["LOG_FORMAT"] = "text",
            ["LOG_LEVEL"] = "error",
        };
        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, string.Join("; ", loaded.Errors));
        _server = ProxyServer.Create(loaded.Options! with { ListeningPort = 0 },
            new ProxyServerDependencies { Credential = process, CredentialFor = credentialFor });
        await _server.StartAsync(Cancel);
        await Task.WhenAll(_server.Tokens.All.Select(s => s.FirstAttempt)).WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        return _server;
    }

    private string TwoRoutes(bool catchAll = true) => $$$"""
        {"routes":[
          {"name":"ingestion","pathPrefix":"/dataCollectionRules/","target":"{{{_ingestion.BaseUrl}}}","audience":"https://monitor.azure.com"},
          {"name":"write","path":"/api/v1/write","target":"{{{_ingestion.BaseUrl}}}/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24","audience":"https://monitor.azure.com"},
          {"name":"query","pathPrefix":"{{{(catchAll ? "/" : "/api/v1/")}}}","target":"{{{_query.BaseUrl}}}","audience":"https://prometheus.monitor.azure.com",
           "identity":{"type":"userassigned","clientId":"{{{UserAssignedClientId}}}"}}
        ]}
        """;

    private static Func<IdentityOptions, TokenCredential> ByClientId(Dictionary<string, PerScopeCredential> made) => identity =>
    {
        var credential = new PerScopeCredential(identity.ClientId!);
        made[identity.ClientId!] = credential;
        return credential;
    };

    [Fact]
    public async Task EachRoute_ReachesItsTargetWithItsOwnAudienceAndIdentity()
    {
        var server = await StartAsync(TwoRoutes(), new PerScopeCredential("process"), ByClientId([]));
        using var client = TestHttp.CreateClient(server.Addresses[0]);

        using (var write = await client.PostAsync("/api/v1/write?x=1", new ByteArrayContent([1, 2, 3]), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, write.StatusCode);
        }

        using (var dcr = await client.PostAsync("/dataCollectionRules/dcr-2/streams/s/api/v1/write", new ByteArrayContent([4]), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, dcr.StatusCode);
        }

        using (var query = await client.GetAsync("/api/v1/query?query=up", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        }

        using (var other = await client.GetAsync("/api/v1/labels", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        Assert.Equal(0, _ingestion.Unauthorized);
        Assert.Equal(0, _query.Unauthorized);
        Assert.Equal(
            ["/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24&x=1", "/dataCollectionRules/dcr-2/streams/s/api/v1/write"],
            _ingestion.Requests.Select(r => r.RawTarget));
        Assert.All(_ingestion.Requests, r => Assert.Equal("Bearer " + PerScopeCredential.TokenFor("process", Audience.IngestionScope), r.Header("Authorization")));
        Assert.Equal(["/api/v1/query?query=up", "/api/v1/labels"], _query.Requests.Select(r => r.RawTarget));
        Assert.All(_query.Requests, r => Assert.Equal("Bearer " + PerScopeCredential.TokenFor(UserAssignedClientId, Audience.QueryScope), r.Header("Authorization")));

        // Two routes share (process identity, ingestion scope): one source for them, one for the query route.
        Assert.Equal(2, server.Tokens.All.Count);
    }

    [Fact]
    public async Task Ready_IsOkOnlyWhileEveryRoutesSourceHoldsAToken()
    {
        var made = new Dictionary<string, PerScopeCredential>();
        Func<IdentityOptions, TokenCredential> credentialFor = identity =>
        {
            var credential = new PerScopeCredential(identity.ClientId!);
            credential.Fail.Add(Audience.QueryScope);
            made[identity.ClientId!] = credential;
            return credential;
        };
        var server = await StartAsync(TwoRoutes(), new PerScopeCredential("process"), credentialFor);
        using var client = TestHttp.CreateClient(server.Addresses[0]);

        using (var ready = await client.GetAsync("/ready", Cancel))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            using var json = JsonDocument.Parse(await ready.Content.ReadAsStringAsync(Cancel));
            var message = json.RootElement.GetProperty("message").GetString()!;
            Assert.Contains(Audience.QueryScope, message, StringComparison.Ordinal);
            Assert.Contains(UserAssignedClientId, message, StringComparison.Ordinal);
            Assert.Equal(2, json.RootElement.GetProperty("tokens").GetArrayLength());
        }

        // The ingestion route works meanwhile; the query route answers 503 no_token.
        using (var write = await client.PostAsync("/api/v1/write", new ByteArrayContent([1]), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, write.StatusCode);
        }

        using (var query = await client.GetAsync("/api/v1/query?query=up", Cancel))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, query.StatusCode);
        }

        lock (made[UserAssignedClientId].Fail)
        {
            made[UserAssignedClientId].Fail.Clear();
        }

        var querySource = server.Tokens.All.Single(s => s.Scope == Audience.QueryScope);
        await querySource.FirstToken.WaitAsync(TimeSpan.FromSeconds(20), Cancel);
        using (var ready = await client.GetAsync("/ready", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
    }

    [Fact]
    public async Task UnmatchedPath_Is404NoRoute_WithoutACatchAll()
    {
        var server = await StartAsync(TwoRoutes(catchAll: false), new PerScopeCredential("process"), ByClientId([]));
        using var client = TestHttp.CreateClient(server.Addresses[0]);

        using var response = await client.GetAsync("/federate?match=up", Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("no_route", json.RootElement.GetProperty("error").GetString());
        Assert.Empty(_ingestion.Requests);
        Assert.Empty(_query.Requests);

        // The probes are FastProxy's own and never need a route.
        using var health = await client.GetAsync("/health", Cancel);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task RoutesFileChange_MovesTrafficWithoutAFailedRequest()
    {
        var made = new Dictionary<string, PerScopeCredential>();
        var server = await StartAsync($$$"""{"routes":[{"name":"all","pathPrefix":"/","target":"{{{_ingestion.BaseUrl}}}"}]}""",
            new PerScopeCredential("process"), ByClientId(made));
        using var client = TestHttp.CreateClient(server.Addresses[0]);

        // Remote write keeps flowing through the change; every answer is recorded.
        var answers = Channel.CreateUnbounded<HttpStatusCode>();
        using var stopWriting = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 5000 && !stopWriting.IsCancellationRequested; i++)
            {
                using var response = await client.PostAsync("/api/v1/write", new ByteArrayContent([1, 2, 3]), Cancel);
                answers.Writer.TryWrite(response.StatusCode);
            }

            answers.Writer.Complete();
        }, Cancel);
        var seen = new List<HttpStatusCode>();
        async Task ReadAnswers(int count)
        {
            for (var i = 0; i < count; i++)
            {
                seen.Add(await answers.Reader.ReadAsync(Cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Cancel));
            }
        }

        await ReadAnswers(20);
        await File.WriteAllTextAsync(Path.Combine(_directory, "routes.json"), TwoRoutes(), Cancel);
        Assert.Equal(RoutesCheckOutcome.Applied, await server.RoutesWatch!.CheckAsync(Cancel));
        // Twenty requests sent after the change, counted where they arrive: answers read from the
        // channel here could all be ones queued before it (the writer does not wait for the reader).
        await _ingestion.WaitForRequestsAsync(_ingestion.Requests.Count + 20, TimeSpan.FromSeconds(20));
        await stopWriting.CancelAsync();
        await writer.WaitAsync(TimeSpan.FromSeconds(20), Cancel);
        await foreach (var answer in answers.Reader.ReadAllAsync(Cancel))
        {
            seen.Add(answer);
        }

        Assert.All(seen, status => Assert.Equal(HttpStatusCode.OK, status));
        // Writes moved to the new exact route's URL; queries to the new target, with the new identity's token.
        Assert.Contains(_ingestion.Requests, r => r.RawTarget.StartsWith("/dataCollectionRules/dcr-1/", StringComparison.Ordinal));
        using (var query = await client.GetAsync("/api/v1/query?query=up", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        }

        var queried = Assert.Single(_query.Requests);
        Assert.Equal("Bearer " + PerScopeCredential.TokenFor(UserAssignedClientId, Audience.QueryScope), queried.Header("Authorization"));
        Assert.Equal(0, _ingestion.Unauthorized + _query.Unauthorized);

        using (var ready = await client.GetAsync("/ready", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            using var json = JsonDocument.Parse(await ready.Content.ReadAsStringAsync(Cancel));
            Assert.Equal(2, json.RootElement.GetProperty("tokens").GetArrayLength());
        }

        // A broken file is refused: the routes stay, and the scrape says so.
        await File.WriteAllTextAsync(Path.Combine(_directory, "routes.json"), "{\"routes\":[", Cancel);
        Assert.Equal(RoutesCheckOutcome.Refused, await server.RoutesWatch.CheckAsync(Cancel));
        using (var query = await client.GetAsync("/api/v1/query?query=up", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        }

        var scrape = await client.GetStringAsync("/metrics", Cancel);
        Assert.Contains("fastproxy_routes_file_reloads_total{outcome=\"applied\"} 1", scrape, StringComparison.Ordinal);
        Assert.Contains("fastproxy_routes_file_reloads_total{outcome=\"refused\"} 1", scrape, StringComparison.Ordinal);
    }
}
