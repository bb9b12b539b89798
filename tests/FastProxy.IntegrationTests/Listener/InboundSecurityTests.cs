using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using FastProxy.Configuration;
using FastProxy.IntegrationTests.Identity;
using FastProxy.IntegrationTests.Support;
using FastProxy.Listener;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// Inbound protection (INBOUND_TOKEN_FILE, ALLOWED_SOURCE_CIDRS) and the listener limits, through
/// the real Kestrel listener in-process, against a fake upstream that records what reached it.
/// </summary>
public sealed class InboundSecurityTests : IDisposable
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly Uri Write = new("/api/v1/write", UriKind.Relative);

    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-inbound-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string TokenFile(string token)
    {
        var path = Path.Combine(_directory, "token");
        File.WriteAllText(path, token + "\n");
        return path;
    }

    private static async Task<InProcessProxy> StartAsync(FakeUpstream upstream, params (string Name, string Value)[] extra)
    {
        var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, extra);
        upstream.AcceptToken(proxy.Token);
        return proxy;
    }

    private static HttpRequestMessage Post(string? authorization, byte[]? body = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Write) { Content = new ByteArrayContent(body ?? [1, 2, 3]) };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return request;
    }

    private static async Task<JsonElement> ErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        return json.RootElement.Clone();
    }

    [Fact]
    public async Task RightToken_IsForwardedWithTheEntraToken()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("INBOUND_TOKEN_FILE", TokenFile("prometheus-secret")));
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post("Bearer prometheus-secret"), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var forwarded = Assert.Single(upstream.Requests);
        Assert.Equal("Bearer " + proxy.Token, forwarded.Header("Authorization"));
        Assert.DoesNotContain(forwarded.Headers.Values.SelectMany(v => v), v => v.Contains("prometheus-secret", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-secret")]
    [InlineData("Bearer prometheus-secre")]
    [InlineData("Basic cHJvbWV0aGV1cy1zZWNyZXQ=")]
    public async Task MissingOrWrongToken_Is401_NothingForwarded(string? authorization)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("INBOUND_TOKEN_FILE", TokenFile("prometheus-secret")));
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post(authorization), Cancel);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("unauthorized", (await ErrorAsync(response)).GetProperty("error").GetString());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task TokenFileRotated_NewTokenAccepted_OldRefused()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var path = TokenFile("first-secret");
        await using var proxy = await StartAsync(upstream, ("INBOUND_TOKEN_FILE", path));
        using var client = TestHttp.CreateClient(proxy.Address);
        using (var before = await client.SendAsync(Post("Bearer first-secret"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        // As a Secret volume does: a new file moved over the old one, with a new modification time.
        var staged = Path.Combine(_directory, "token.new");
        File.WriteAllText(staged, "second-secret\n");
        File.SetLastWriteTimeUtc(staged, DateTime.UtcNow.AddSeconds(5));
        File.Move(staged, path, overwrite: true);

        // The file is checked at most once a second: poll, bounded.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        HttpStatusCode status;
        do
        {
            using var attempt = await client.SendAsync(Post("Bearer second-secret"), Cancel);
            status = attempt.StatusCode;
            if (status != HttpStatusCode.OK)
            {
                await Task.Delay(100, Cancel);
            }
        }
        while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.OK, status);
        using var old = await client.SendAsync(Post("Bearer first-secret"), Cancel);
        Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
    }

    [Fact]
    public async Task Probes_AreOpenWithoutAToken()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("INBOUND_TOKEN_FILE", TokenFile("prometheus-secret")));
        using var client = TestHttp.CreateClient(proxy.Address);

        foreach (var path in new[] { "/health", "/ready", "/metrics" })
        {
            using var response = await client.GetAsync(new Uri(path, UriKind.Relative), Cancel);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path} answered {response.StatusCode}");
        }

        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task AllowList_Without127_Refuses127With403_ProbesStayOpen()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("ALLOWED_SOURCE_CIDRS", "10.0.0.0/8"));
        using var client = TestHttp.CreateClient(proxy.Address);

        using var refused = await client.SendAsync(Post(null), Cancel);
        using var health = await client.GetAsync(new Uri("/health", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("forbidden_source", (await ErrorAsync(refused)).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task AllowList_With127_Forwards()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("ALLOWED_SOURCE_CIDRS", "10.0.0.0/8, 127.0.0.0/8"));
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post(null), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task DeclaredBodyOverTheLimit_Is413NamingTheFix_NothingForwarded()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("MAX_REQUEST_BODY_BYTES", "1024"));
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post(null, new byte[1025]), Cancel);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal("request_body_too_large", error.GetProperty("error").GetString());
        Assert.Contains("max_samples_per_send", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task BodyAtTheLimit_IsForwarded()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("MAX_REQUEST_BODY_BYTES", "1024"));
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post(null, new byte[1024]), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ChunkedBodyOverTheLimit_IsNeverAnsweredWithSuccess()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            context.Response.StatusCode = 200;
        };
        await using var proxy = await StartAsync(upstream, ("MAX_REQUEST_BODY_BYTES", "1024"));
        var chunk = new string('a', 3000);
        var request = $"POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk.Length:x}\r\n{chunk}\r\n0\r\n\r\n";

        var (status, _) = await RawHttp.ExchangeAsync(proxy.Port, request, Cancel);

        Assert.Equal(413, status);
        Assert.DoesNotContain(upstream.Requests, r => r.Body is { Length: > 1024 });
    }

    [Fact]
    public async Task TooManyHeaders_Is431()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("MAX_REQUEST_HEADER_COUNT", "20"));
        using var client = TestHttp.CreateClient(proxy.Address);
        using var request = Post(null);
        for (var i = 0; i < 30; i++)
        {
            request.Headers.TryAddWithoutValidation($"x-extra-{i}", "v");
        }

        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task TooManyHeaders_KestrelsBareAnswer_IsCountedAndLoggedNamingTheSetting()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TARGET_HOST"] = upstream.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["MAX_REQUEST_HEADER_COUNT"] = "20",
        }.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, string.Join("; ", loaded.Errors));
        var logs = new LogCapture();
        await using var server = ProxyServer.Create(loaded.Options! with { ListeningPort = 0 },
            new ProxyServerDependencies { Credential = new StaticTokenCredential("t"), ExtraLogger = logs });
        await server.StartAsync(Cancel);
        using var client = TestHttp.CreateClient(server.Addresses[0]);
        using var request = Post(null);
        for (var i = 0; i < 30; i++)
        {
            request.Headers.TryAddWithoutValidation($"x-extra-{i}", "v");
        }

        using var response = await client.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);

        // Kestrel records the connection's end once it has closed it, just after the answer; the
        // count and the log line follow on Kestrel's thread.
        const string Series = "fastproxy_client_connection_errors_total{reason=\"max_request_header_count_exceeded\"} 1";
        var scrape = "";
        for (var attempt = 0; attempt < 200 && !(scrape.Contains(Series, StringComparison.Ordinal) && logs.Lines.Any(l => l.EventId == 620)); attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), Cancel);
            }

            scrape = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative), Cancel);
        }

        Assert.Contains(Series, scrape, StringComparison.Ordinal);
        var line = Assert.Single(logs.Lines, l => l.EventId == 620);
        Assert.Contains("MAX_REQUEST_HEADER_COUNT (20)", line.Text, StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
        await server.StopAsync();
    }

    [Fact]
    public async Task HeadersTooLarge_Is431()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await StartAsync(upstream, ("MAX_REQUEST_HEADERS_BYTES", "4096"));
        using var client = TestHttp.CreateClient(proxy.Address);
        using var request = Post(null);
        request.Headers.TryAddWithoutValidation("x-large", new string('a', 8000));

        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task OpenListenerWarning_OnlyWithoutInboundProtection(bool protect, bool warned)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TARGET_HOST"] = upstream.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "0.0.0.0",
        };
        if (protect)
        {
            environment["INBOUND_TOKEN_FILE"] = TokenFile("prometheus-secret");
        }

        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), environment.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, string.Join("; ", loaded.Errors));
        var logs = new LogCapture();
        await using var server = ProxyServer.Create(loaded.Options! with { ListeningPort = 0, ListenAddress = IPAddress.Any },
            new ProxyServerDependencies { Credential = new StaticTokenCredential("t"), ExtraLogger = logs });

        await server.StartAsync(Cancel);
        await server.StopAsync();

        Assert.Equal(warned, logs.Lines.Any(l => l.EventId == 103));
        Assert.DoesNotContain("prometheus-secret", logs.All, StringComparison.Ordinal);
    }
}
