using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// FastProxy is not an open relay: whatever a client writes (CONNECT, a steering header, an
/// HTTP/2 :authority, a path that looks like another host), only the configured target is ever
/// contacted with the proxy's token. A second listener, the "victim", stands for any other host a
/// client might aim at; it must never see a connection. (Absolute-form targets on HTTP/1.1:
/// Forwarding/RequestEdgeCaseTests.)
/// </summary>
public sealed class OpenRelayTests : IAsyncLifetime
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private FakeUpstream _upstream = null!;
    private VictimListener _victim = null!;
    private InProcessProxy _proxy = null!;
    private int _h2cPort;

    private string Victim => $"127.0.0.1:{_victim.Port}";

    private string Configured => $"127.0.0.1:{_upstream.Port}";

    public async ValueTask InitializeAsync()
    {
        _victim = VictimListener.Start();
        _upstream = await FakeUpstream.StartAsync();
        _h2cPort = FreePort.Get();
        _proxy = await InProcessProxy.StartAsync(_upstream.BaseUrl, ("H2C_PORT", _h2cPort.ToString(CultureInfo.InvariantCulture)));
        _upstream.AcceptToken(_proxy.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
        _victim.Dispose();
    }

    private void AssertVictimUntouched() =>
        Assert.True(_victim.Connections == 0 && !_victim.Pending, $"the victim host was contacted {_victim.Connections} time(s)");

    [Theory]
    [InlineData("CONNECT {victim} HTTP/1.1\r\nHost: {victim}\r\n")]
    [InlineData("CONNECT {configured} HTTP/1.1\r\nHost: {configured}\r\n")]
    [InlineData("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n")]
    public async Task Http1Connect_IsRefusedWith400AndNothingIsContacted(string head)
    {
        var request = head.Replace("{victim}", Victim, StringComparison.Ordinal).Replace("{configured}", Configured, StringComparison.Ordinal) +
            "Connection: close\r\n\r\n";

        var (status, text) = await RawHttp.ExchangeAsync(_proxy.Port, request, Cancel);

        // Kestrel parses the authority-form target and hands it to FastProxy, which forwards
        // origin-form targets only.
        Assert.Equal(400, status);
        Assert.Contains("bad_request_target", text, StringComparison.Ordinal);
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    [Fact]
    public async Task Http1Connect_WithOriginFormTarget_NeverSucceedsAndContactsNoOtherHost()
    {
        // Kestrel accepts CONNECT with a path and FastProxy's origin-form check lets it through;
        // HttpClient then fails to open a tunnel to the configured target: 502, never a 2xx.
        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"CONNECT /api/v1/write HTTP/1.1\r\nHost: {Victim}\r\nConnection: close\r\n\r\n", Cancel);

        Assert.True(status is < 200 or >= 300, $"answered {status}");
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    [Fact]
    public async Task Http1Connect_WithOriginFormTarget_IsRefusedWith400()
    {
        var (status, text) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"CONNECT /api/v1/write HTTP/1.1\r\nHost: {Victim}\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(400, status);
        Assert.Contains("bad_request_target", text, StringComparison.Ordinal);
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    [Fact]
    public async Task H2cConnect_IsRefusedWith400AndNothingIsContacted()
    {
        // RFC 9113 §8.5: a CONNECT carries only :method and :authority.
        var outcome = await RawHttp2.SendAsync(_h2cPort, [(":method", "CONNECT"), (":authority", Victim)], Cancel);

        Assert.True(outcome.Status == 400 && outcome.Body.Contains("bad_request_target", StringComparison.Ordinal), outcome.ToString());
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    [Fact]
    public async Task H2cAbsoluteFormPath_IsRefusedAndNothingIsContacted()
    {
        var outcome = await RawHttp2.SendAsync(_h2cPort,
            [(":method", "GET"), (":scheme", "http"), (":authority", Victim), (":path", $"http://{Victim}/api/v1/query?query=up")], Cancel);

        // Kestrel allows only a path (or *) in :path and resets the stream: PROTOCOL_ERROR (1).
        Assert.True(outcome.ResetCode == 1, outcome.ToString());
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    /// <summary>Headers that some proxies and frameworks use to pick a host or rewrite the URL.</summary>
    public static TheoryData<string, string> SteeringHeaders =>
    [
        ("X-Forwarded-Host", "{victim}"),
        ("X-Forwarded-Server", "{victim}"),
        ("X-Host", "{victim}"),
        ("X-HTTP-Host-Override", "{victim}"),
        ("X-Original-URL", "http://{victim}/api/v1/query"),
        ("X-Rewrite-URL", "http://{victim}/api/v1/query"),
        ("Forwarded", "for=10.0.0.1;host={victim};proto=http"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "{victimPort}"),
    ];

    [Theory]
    [MemberData(nameof(SteeringHeaders))]
    public async Task SteeringHeader_NeverChangesTheHostContacted(string name, string value)
    {
        value = value.Replace("{victimPort}", _victim.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{victim}", Victim, StringComparison.Ordinal);

        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET /api/v1/query?query=up HTTP/1.1\r\nHost: {Configured}\r\n{name}: {value}\r\nConnection: close\r\n\r\n", Cancel);

        // The upstream URL comes from the route only. The header itself is passed on as information
        // (FastProxy is transparent for headers it does not own); the target never picks a host from it.
        Assert.Equal(200, status);
        var seen = Assert.Single(_upstream.Requests);
        Assert.Equal(Configured, seen.Header("Host"));
        Assert.Equal("/api/v1/query?query=up", seen.RawTarget);
        Assert.Equal(value, seen.Header(name));
        AssertVictimUntouched();
    }

    [Theory]
    [InlineData("{victim}")]
    [InlineData("127.0.0.1:1")]
    [InlineData("evil.example")]
    [InlineData("evil.example:443")]
    public async Task ForeignHostHeader_IsReplacedByTheTargets(string host)
    {
        host = host.Replace("{victim}", Victim, StringComparison.Ordinal);

        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET /api/v1/query?query=up HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(200, status);
        Assert.Equal(Configured, Assert.Single(_upstream.Requests).Header("Host"));
        AssertVictimUntouched();
    }

    [Theory]
    [InlineData("user@{victim}")]
    [InlineData("user:password@{victim}")]
    [InlineData("{victim}/path")]
    [InlineData("{victim}, {configured}")]
    public async Task MalformedHostHeader_IsRefusedByKestrel(string host)
    {
        host = host.Replace("{victim}", Victim, StringComparison.Ordinal).Replace("{configured}", Configured, StringComparison.Ordinal);

        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET /api/v1/query?query=up HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Cancel);

        // Kestrel validates Host (RFC 9112 §3.2: no userinfo, one authority); its 400 has an empty body.
        Assert.Equal(400, status);
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    [Fact]
    public async Task TwoHostHeaders_AreRefusedByKestrel()
    {
        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET /api/v1/query?query=up HTTP/1.1\r\nHost: {Configured}\r\nHost: {Victim}\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(400, status);
        Assert.Empty(_upstream.Requests);
        AssertVictimUntouched();
    }

    [Fact]
    public async Task H2cAuthority_NeverChangesTheHostContacted()
    {
        using var client = TestHttp.CreateClient(new Uri($"http://127.0.0.1:{_h2cPort}"), version: HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/query?query=up")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        // SocketsHttpHandler sends the Host header as :authority.
        request.Headers.Host = Victim;

        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Configured, Assert.Single(_upstream.Requests).Header("Host"));
        AssertVictimUntouched();
    }

    [Fact]
    public async Task H2cAuthorityAndHostDisagreeing_NeverChangesTheHostContacted()
    {
        var outcome = await RawHttp2.SendAsync(_h2cPort,
            [(":method", "GET"), (":scheme", "http"), (":authority", Victim), (":path", "/api/v1/query?query=up"), ("host", "evil.example")], Cancel);

        // Kestrel lets :authority win; neither reaches the upstream request, whose Host is the target's.
        Assert.True(outcome.Status == 200, outcome.ToString());
        Assert.Equal(Configured, Assert.Single(_upstream.Requests).Header("Host"));

        AssertVictimUntouched();
    }

    /// <summary>Paths that a naive "base + path" join or a URL parser could turn into another host.</summary>
    public static TheoryData<string> HostLookingPaths =>
    [
        "//{victim}/api/v1/query",
        "//{victim}",
        "///{victim}/api/v1/query",
        "/..%2f..%2f{victim}/api/v1/query",
        "/%2f%2f{victim}/api/v1/query",
        "/..//{victim}/api/v1/query",
        "/@{victim}/api/v1/query",
        "/:@{victim}/api/v1/query",
        "/%40{victim}/api/v1/query",
        "/?@{victim}/",
        "/#@{victim}/",
    ];

    [Theory]
    [MemberData(nameof(HostLookingPaths))]
    public async Task HostLookingPath_StaysOnTheConfiguredTarget(string target)
    {
        target = target.Replace("{victim}", Victim, StringComparison.Ordinal);

        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET {target} HTTP/1.1\r\nHost: {Configured}\r\nConnection: close\r\n\r\n", Cancel);

        // Byte for byte to the configured target, '#' included (Kestrel accepts it in a target).
        Assert.Equal(200, status);
        var seen = Assert.Single(_upstream.Requests);
        Assert.Equal(target, seen.RawTarget);
        Assert.Equal(Configured, seen.Header("Host"));

        AssertVictimUntouched();
    }

    [Fact]
    public async Task HostLookingPath_BehindATargetPathPrefix_StaysOnTheConfiguredTarget()
    {
        await using var prefixed = await InProcessProxy.StartAsync(_upstream.BaseUrl + "/prefix");
        _upstream.AcceptToken(prefixed.Token);

        var (status, _) = await RawHttp.ExchangeAsync(prefixed.Port,
            $"GET //{Victim}/api/v1/query HTTP/1.1\r\nHost: {Victim}\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(200, status);
        var seen = Assert.Single(_upstream.Requests);
        Assert.Equal($"/prefix//{Victim}/api/v1/query", seen.RawTarget);
        Assert.Equal(Configured, seen.Header("Host"));
        AssertVictimUntouched();
    }

    /// <summary>A listener that only counts: any connection to it means FastProxy went somewhere it must not.</summary>
    private sealed class VictimListener : IDisposable
    {
        private readonly TcpListener _listener;
        private int _connections;

        private VictimListener(TcpListener listener)
        {
            _listener = listener;
            _ = AcceptLoopAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Connections => Volatile.Read(ref _connections);

        /// <summary>A connection the kernel accepted that the loop has not taken yet.</summary>
        public bool Pending => _listener.Pending();

        public static VictimListener Start()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return new VictimListener(listener);
        }

        private async Task AcceptLoopAsync()
        {
            try
            {
                while (true)
                {
                    using var socket = await _listener.AcceptSocketAsync();
                    Interlocked.Increment(ref _connections);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // Stopped.
            }
        }

        public void Dispose() => _listener.Stop();
    }
}
