using System.Collections.Concurrent;
using FastProxy.Configuration;
using FastProxy.Identity;
using FastProxy.IntegrationTests.Support;
using FastProxy.Listener;
using Microsoft.Extensions.Logging;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>Every line FastProxy logged, formatted as an operator reads it (exceptions included).</summary>
internal sealed class LogCapture : ILoggerProvider, ILogger
{
    private readonly ConcurrentQueue<(LogLevel Level, int EventId, string Text)> _lines = new();

    public IReadOnlyList<(LogLevel Level, int EventId, string Text)> Lines => [.. _lines];

    public string All => string.Join("\n", _lines.Select(l => l.Text));

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue((logLevel, eventId.Id, formatter(state, exception) + (exception is null ? "" : " " + exception)));

    public void Dispose()
    {
    }
}

/// <summary>
/// A loopback world for one identity test: a test CA, the fake Entra serving HTTPS with it, a fake
/// upstream that accepts exactly the tokens that Entra issued, and FastProxy in-process between
/// them. FastProxy's configuration goes through the real loader; its credential is the real
/// Azure.Identity one that <see cref="CredentialFactory"/> builds, given a transport that trusts
/// the test CA (the child-process test trusts it through SSL_CERT_FILE instead).
/// </summary>
internal sealed class EntraFixture : IAsyncDisposable
{
    private EntraFixture(string directory, TestCertificateAuthority authority, FakeEntra entra, FakeUpstream upstream)
    {
        Directory = directory;
        Authority = authority;
        Entra = entra;
        Upstream = upstream;
    }

    public string Directory { get; }

    public TestCertificateAuthority Authority { get; }

    public FakeEntra Entra { get; }

    public FakeUpstream Upstream { get; }

    public LogCapture Logs { get; } = new();

    public ProxyServer? Server { get; private set; }

    public HttpClient Client { get; private set; } = null!;

    public static async Task<EntraFixture> StartAsync()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("fastproxy-entra-").FullName;
        var authority = TestCertificateAuthority.Create(directory);
        var entra = await FakeEntra.StartAsync(authority);
        var upstream = await FakeUpstream.StartAsync();
        upstream.TokenValidator = entra.HasIssued;
        return new EntraFixture(directory, authority, entra, upstream);
    }

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>The settings every Entra flow needs, pointing at the fake; <paramref name="extra"/> adds to them.</summary>
    public Dictionary<string, string> Environment(string identityType, params (string Name, string Value)[] extra)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TARGET_HOST"] = Upstream.BaseUrl,
            ["IDENTITY_TYPE"] = identityType,
            ["AAD_CLIENT_ID"] = Entra.ClientId,
            ["AAD_TENANT_ID"] = Entra.TenantId,
            ["AZURE_AUTHORITY_HOST"] = Entra.AuthorityHost.ToString(),
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["LOG_FORMAT"] = "text",
            // Everything FastProxy can say, so the secrets test sees the most output.
            ["LOG_LEVEL"] = "trace",
        };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        return environment;
    }

    /// <summary>Starts FastProxy; with <paramref name="waitForToken"/>, returns once every route holds a token.</summary>
    public async Task<ProxyServer> StartProxyAsync(IReadOnlyDictionary<string, string> environment, bool waitForToken = true, Func<ProxyOptions, ProxyOptions>? adjust = null)
    {
        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, "test configuration invalid: " + string.Join("; ", loaded.Errors));
        var options = loaded.Options! with { ListeningPort = 0 };
        options = adjust?.Invoke(options) ?? options;
        var credential = CredentialFactory.Create(options.Identity, Authority.CreateTransport());
        Server = ProxyServer.Create(options, new ProxyServerDependencies { Credential = credential, ExtraLogger = Logs });
        await Server.StartAsync();
        Client = TestHttp.CreateClient(Server.Addresses[0], TimeSpan.FromSeconds(30));
        if (waitForToken)
        {
            try
            {
                await Task.WhenAll(Server.Tokens.All.Select(s => s.FirstToken)).WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                Assert.Fail($"no token within 30 s: {string.Join("; ", Server.Tokens.All.Select(s => s.LastFailure))}\n" +
                            $"entra saw: {string.Join("; ", Entra.TokenRequests.Select(r => r.Problem ?? "ok"))}\n{Logs.All}");
            }
        }

        return Server;
    }

    public async Task<HttpResponseMessage> PostAsync(string path = "/api/v1/write")
    {
        using var content = new ByteArrayContent([1, 2, 3, 4]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-protobuf");
        return await Client.PostAsync(new Uri(path, UriKind.Relative), content);
    }

    public async Task<string> ReadyAsync()
    {
        using var response = await Client.GetAsync(new Uri("/ready", UriKind.Relative));
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (Server is not null)
        {
            await Server.StopAsync();
            await Server.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        await Entra.DisposeAsync();
        Authority.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
