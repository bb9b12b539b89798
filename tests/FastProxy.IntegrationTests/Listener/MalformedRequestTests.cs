using System.Net;
using System.Net.Sockets;
using System.Text;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// Malformed HTTP/1.1, byte for byte: each request is either refused with a 4xx (or a closed
/// connection) before anything reaches the target, or, where HTTP allows a lenient reading, reaches
/// the target as one well-formed request with nothing injected. Never a 2xx for a request that
/// was not delivered, and FastProxy keeps serving afterwards.
/// </summary>
public sealed class MalformedRequestTests : IAsyncLifetime
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private FakeUpstream _upstream = null!;
    private InProcessProxy _proxy = null!;

    public async ValueTask InitializeAsync()
    {
        _upstream = await FakeUpstream.StartAsync();
        _proxy = await InProcessProxy.StartAsync(_upstream.BaseUrl);
        _upstream.AcceptToken(_proxy.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    /// <summary>What FastProxy does with a case.</summary>
    public enum Outcome
    {
        /// <summary>Answered with exactly <see cref="BadRequest.Status"/>; nothing reaches the target.</summary>
        Refused,

        /// <summary>
        /// The connection is closed without an answer: the head was valid, so forwarding began, and
        /// the body turned out malformed; the target never receives a complete request.
        /// </summary>
        Closed,

        /// <summary>
        /// Delivered as one clean, re-framed request whose target is <see cref="BadRequest.ForwardedTarget"/>
        /// (and body <see cref="BadRequest.ForwardedBody"/>): HTTP defines a lenient reading and
        /// FastProxy never passes the client's framing bytes on.
        /// </summary>
        Forwarded,
    }

    /// <summary>One malformed request. {host} is FastProxy's authority.</summary>
    public sealed record BadRequest(string Request, Outcome Outcome, int Status = 0, string? ForwardedTarget = null, string ForwardedBody = "");

    private static readonly string LongPath = "/" + new string('a', 70 * 1024);

    /// <summary>
    /// The corpus. Refusals by Kestrel (before FastProxy's code runs) carry an empty body; that is
    /// Kestrel's answer to a request it cannot parse, and it closes the connection after it.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, BadRequest> Corpus = new Dictionary<string, BadRequest>
    {
        // Request line.
        ["request line without target"] = new("GET HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["request line with two spaces"] = new("GET  /api/v1/query HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["request line with tab"] = new("GET\t/api/v1/query HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["request line with trailing text"] = new("GET /api/v1/query HTTP/1.1 extra\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["unknown HTTP version"] = new("GET /api/v1/query HTTP/9.9\r\nHost: {host}\r\n\r\n", Outcome.Refused, 505),
        ["lower-case protocol"] = new("GET /api/v1/query http/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 505),
        ["HTTP/0.9 simple request"] = new("GET /api/v1/query\r\n\r\n", Outcome.Refused, 400),
        ["method with separator"] = new("GE(T /api/v1/query HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["method with control byte"] = new("GE\u0001T /api/v1/query HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["oversized request line"] = new("GET {long} HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 414),
        ["NUL in path"] = new("GET /api/v1/\0query HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["CR in path"] = new("GET /api/v1/query\rX-Injected: 1 HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),
        ["LF in path"] = new("GET /api/v1/query\nX-Injected: 1\n HTTP/1.1\r\nHost: {host}\r\n\r\n", Outcome.Refused, 400),

        // Line endings and header syntax.
        ["CR without LF"] = new("GET /api/v1/query HTTP/1.1\rHost: {host}\r\nX-Injected: 1\r\n\r\n", Outcome.Refused, 400),
        ["CR without LF in header value"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX-Test: a\rX-Injected: 1\r\n\r\n", Outcome.Refused, 400),
        ["header without colon"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX-Injected 1\r\n\r\n", Outcome.Refused, 400),
        ["whitespace before colon"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX-Injected : 1\r\n\r\n", Outcome.Refused, 400),
        ["obs-fold"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX-Test: a\r\n X-Injected: 1\r\n\r\n", Outcome.Refused, 400),
        ["NUL in header value"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX-Test: a\0X-Injected: 1\r\n\r\n", Outcome.Refused, 400),
        ["missing Host"] = new("GET /api/v1/query HTTP/1.1\r\nX-Test: a\r\n\r\n", Outcome.Refused, 400),

        // Message framing (request smuggling shapes).
        ["two different Content-Length"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", Outcome.Refused, 400),
        ["Content-Length list"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5, 6\r\n\r\nhello!", Outcome.Refused, 400),
        ["negative Content-Length"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nContent-Length: -5\r\n\r\nhello", Outcome.Refused, 400),
        ["non-numeric Content-Length"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nContent-Length: five\r\n\r\nhello", Outcome.Refused, 400),
        ["Transfer-Encoding chunked, identity"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Outcome.Refused, 400),
        ["Transfer-Encoding identity"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: identity\r\n\r\nhello", Outcome.Refused, 400),
        ["Transfer-Encoding unknown coding"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip\r\n\r\nhello", Outcome.Refused, 400),
        ["negative chunk size"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", Outcome.Closed),
        ["overflowing chunk size"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", Outcome.Closed),
        ["chunk longer than its size"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", Outcome.Closed),

        // Lenient but unambiguous: delivered as one clean HTTP/1.1 request.
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; an intermediary removes the
        // Content-Length (Kestrel renames it X-Content-Length) and decodes the chunks once.
        ["Content-Length and Transfer-Encoding"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/write", ForwardedBody: "hello"),
        ["Transfer-Encoding chunked twice"] = new("POST /api/v1/write HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/write", ForwardedBody: "hello"),
        // Kestrel does not check header names; HttpClient refuses to send an invalid one, so it is dropped.
        ["header name with separator"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX(Injected): 1\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/query"),
        ["HTTP/1.0 with keep-alive"] = new("GET /api/v1/query?query=up HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/query?query=up"),
        ["bare LF line endings"] = new("GET /api/v1/query?query=up HTTP/1.1\nHost: {host}\nConnection: close\n\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/query?query=up"),

        // Percent-encoding: FastProxy forwards the target byte for byte and decodes nothing, so an
        // invalid or dangerous escape reaches the target exactly as sent (it answers for its paths).
        ["invalid escape %zz"] = new("GET /api/v1/%zz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/%zz"),
        ["truncated escape %"] = new("GET /api/v1/% HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/%"),
        ["overlong UTF-8 %c0%af"] = new("GET /api/v1/..%c0%af..%c0%afetc HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/..%c0%af..%c0%afetc"),
        ["encoded CRLF in path"] = new("GET /api/v1/query%0d%0aX-Injected:%201%0d%0a HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/query%0d%0aX-Injected:%201%0d%0a"),
        ["encoded CRLF in query"] = new("GET /api/v1/query?query=up%0D%0AX-Injected:%201 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/query?query=up%0D%0AX-Injected:%201"),
        ["encoded CRLF in header value"] = new("GET /api/v1/query HTTP/1.1\r\nHost: {host}\r\nX-Test: a%0d%0aX-Injected: 1\r\nConnection: close\r\n\r\n", Outcome.Forwarded, ForwardedTarget: "/api/v1/query"),
    };

    public static TheoryData<string> CaseNames => [.. Corpus.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task MalformedRequest_IsRefusedOrDeliveredCleanly_AndTheProxyKeepsServing(string name)
    {
        var bad = Corpus[name];
        var request = bad.Request.Replace("{host}", $"127.0.0.1:{_proxy.Port}", StringComparison.Ordinal)
            .Replace("{long}", LongPath, StringComparison.Ordinal);

        var answer = await ExchangeOnceAsync(_proxy.Port, request);

        var received = _upstream.Requests;
        // Whatever happened, nothing reached the target split or with a line the client smuggled in.
        Assert.All(received, r =>
        {
            Assert.False(r.HasHeader("X-Injected"), $"{name}: an injected header reached the target");
            Assert.DoesNotContain('\r', r.RawTarget);
            Assert.DoesNotContain('\n', r.RawTarget);
            Assert.Contains(r.Method, (string[])["GET", "POST"]);
        });

        switch (bad.Outcome)
        {
            case Outcome.Refused:
                Assert.True(answer.Status == bad.Status, $"{name}: expected {bad.Status}, got {answer}");
                // Kestrel refuses before FastProxy's code runs: its answer has an empty body.
                Assert.True(answer.Body.Length == 0, $"{name}: expected Kestrel's empty body, got {answer}");
                Assert.Empty(received);
                break;
            case Outcome.Closed:
                Assert.True(answer.Status is null, $"{name}: expected the connection closed, got {answer}");
                Assert.Empty(received);
                break;
            case Outcome.Forwarded:
                Assert.True(answer.Status == 200, $"{name}: expected the target's 200, got {answer}");
                var seen = Assert.Single(received);
                Assert.Equal(bad.ForwardedTarget, seen.RawTarget);
                Assert.Equal(bad.ForwardedBody, Encoding.Latin1.GetString(seen.Body ?? []));
                Assert.Equal("HTTP/1.1", seen.Protocol);
                Assert.DoesNotContain(seen.Headers.Keys, h => h.Contains('(', StringComparison.Ordinal));
                Assert.NotEqual("3", seen.Header("Content-Length"));
                Assert.False(seen.HasHeader("Keep-Alive") || seen.HasHeader("Connection"), $"{name}: a hop-by-hop header crossed");
                break;
        }

        await AssertStillServingAsync();
    }

    [Fact]
    public async Task EncodedCrLfInHeaderValue_ReachesTheTargetAsLiteralText()
    {
        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET /api/v1/query HTTP/1.1\r\nHost: 127.0.0.1:{_proxy.Port}\r\nX-Test: a%0d%0aX-Injected: 1\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(200, status);
        Assert.Equal("a%0d%0aX-Injected: 1", Assert.Single(_upstream.Requests).Header("X-Test"));
    }

    [Fact]
    public async Task ClientAuthorization_NeverReachesTheTarget_EvenTwice()
    {
        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"GET /api/v1/query HTTP/1.1\r\nHost: 127.0.0.1:{_proxy.Port}\r\nAuthorization: Bearer client-one\r\n" +
            "authorization: Basic Y2xpZW50OnR3bw==\r\nConnection: close\r\n\r\n", Cancel);

        Assert.Equal(200, status);
        var seen = Assert.Single(_upstream.Requests);
        Assert.Equal(["Bearer " + _proxy.Token], seen.Headers["Authorization"]);
    }

    [Fact]
    public async Task DuplicatedContentType_IsForwardedAsOneListForTheTargetToJudge()
    {
        // FastProxy does not pick one of two representations: the target sees both, as one field
        // value (RFC 9110 §5.3), and answers for them (Azure Monitor refuses an unknown type with
        // 4xx, which Prometheus does not retry). Nothing is split or dropped on the way.
        var (status, _) = await RawHttp.ExchangeAsync(_proxy.Port,
            $"POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1:{_proxy.Port}\r\nContent-Type: application/x-protobuf\r\n" +
            "Content-Type: text/plain\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nX-Prometheus-Remote-Write-Version: 2.0.0\r\n" +
            "Content-Length: 5\r\nConnection: close\r\n\r\nhello", Cancel);

        Assert.Equal(200, status);
        var seen = Assert.Single(_upstream.Requests);
        Assert.Equal("application/x-protobuf, text/plain", seen.Header("Content-Type"));
        Assert.Equal("0.1.0, 2.0.0", seen.Header("X-Prometheus-Remote-Write-Version"));
        Assert.Equal("hello"u8.ToArray(), seen.Body);
    }

    private async Task AssertStillServingAsync()
    {
        var before = _upstream.Requests.Count;
        using var client = TestHttp.CreateClient(_proxy.Address);
        using var response = await client.GetAsync(new Uri("/api/v1/query?query=after", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(before + 1, _upstream.Requests.Count);
    }

    private sealed record Answer(int? Status, string Body, string Head)
    {
        public override string ToString() => Status is null ? "the connection closed without an answer" : $"{Head.Split("\r\n")[0]} body '{Body}'";
    }

    /// <summary>
    /// Sends <paramref name="request"/> and reads one response (Content-Length, chunked or to the
    /// close), so that a connection FastProxy keeps open does not hang the test. A connection
    /// closed or reset before a status line gives a null status.
    /// </summary>
    private static async Task<Answer> ExchangeOnceAsync(int port, string request)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
        try
        {
            await socket.SendAsync(Encoding.Latin1.GetBytes(request), SocketFlags.None, timeout.Token);
        }
        catch (SocketException)
        {
            // Kestrel may refuse and close before the whole request is sent; read what it answered.
        }

        var received = new List<byte>();
        var buffer = new byte[8192];
        while (true)
        {
            var text = Encoding.Latin1.GetString([.. received]);
            var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd >= 0)
            {
                var head = text[..headEnd];
                var body = text[(headEnd + 4)..];
                var length = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                var chunked = head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
                if ((length is not null && body.Length >= int.Parse(length["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)) ||
                    (chunked && body.EndsWith("0\r\n\r\n", StringComparison.Ordinal)))
                {
                    return new Answer(int.Parse(head.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), body, head);
                }
            }

            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (SocketException)
            {
                read = 0;
            }

            if (read == 0)
            {
                if (headEnd < 0)
                {
                    return new Answer(null, "", text);
                }

                var head = text[..headEnd];
                return new Answer(int.Parse(head.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), text[(headEnd + 4)..], head);
            }

            received.AddRange(buffer.AsSpan(0, read));
        }
    }
}
