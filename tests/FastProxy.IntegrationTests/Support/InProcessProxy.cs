using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Listener;

namespace FastProxy.IntegrationTests.Support;

/// <summary>A credential that hands out one fixed token; for tests where the credential is not under test.</summary>
internal sealed class StaticTokenCredential : TokenCredential
{
    public StaticTokenCredential(string token) => Token = token;

    public string Token { get; }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        new(Token, DateTimeOffset.UtcNow.AddHours(1));

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}

/// <summary>
/// FastProxy in the test process: the configuration goes through the real loader (from a
/// dictionary standing in for the environment), the listener on an ephemeral loopback port, and
/// the token from <see cref="StaticTokenCredential"/>. For forwarding tests.
/// </summary>
internal sealed class InProcessProxy : IAsyncDisposable
{
    private InProcessProxy(ProxyServer server, string token)
    {
        Server = server;
        Token = token;
        Address = server.Addresses[0];
    }

    public ProxyServer Server { get; }

    /// <summary>The token FastProxy sends upstream.</summary>
    public string Token { get; }

    /// <summary>The HTTP/1.1 endpoint.</summary>
    public Uri Address { get; }

    public int Port => Address.Port;

    /// <summary>Starts FastProxy with TARGET_HOST (or whatever <paramref name="environment"/> sets) and waits for its token.</summary>
    public static async Task<InProcessProxy> StartAsync(
        IReadOnlyDictionary<string, string> environment, Func<ProxyOptions, ProxyOptions>? adjust = null, TokenCredential? credential = null)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["LOG_FORMAT"] = "text",
            ["LOG_LEVEL"] = "error",
        };
        foreach (var (name, value) in environment)
        {
            variables[name] = value;
        }

        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), variables.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, "test configuration invalid: " + string.Join("; ", loaded.Errors));
        var options = loaded.Options! with { ListeningPort = 0 };
        options = adjust?.Invoke(options) ?? options;

        var token = "in-process-token-" + Guid.NewGuid().ToString("N");
        var server = ProxyServer.Create(options, new ProxyServerDependencies { Credential = credential ?? new StaticTokenCredential(token) });
        await server.StartAsync();
        // The first fetch runs in the background; with a static credential it completes at once.
        await Task.WhenAll(server.Tokens.All.Select(s => s.FirstAttempt)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(server.Tokens.IsReady(out _), "FastProxy holds no token after its first fetch");
        return new InProcessProxy(server, token);
    }

    public static Task<InProcessProxy> StartAsync(string targetHost, params (string Name, string Value)[] extra)
    {
        var environment = extra.ToDictionary(e => e.Name, e => e.Value, StringComparer.Ordinal);
        environment["TARGET_HOST"] = targetHost;
        return StartAsync(environment);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        await Server.DisposeAsync();
    }
}
