// The floor probe (bench/load/floors.sh): a server that receives each HTTP/1.1 request, reads its
// body and answers 200 with an empty body, and does nothing else. FLOOR picks how deep it goes:
//   aspnet       Kestrel and ASP.NET Core hosting with one request delegate (what FastProxy's
//                listener is, less FastProxy's own code);
//   kestrel-raw  Kestrel's socket transport and pipes, HTTP/1.1 parsed by the few lines below;
//   socket       System.Net.Sockets alone: one receive buffer per connection, the same parsing;
//   socket-forward  the floor of a .NET proxy: the socket floor plus one upstream connection per
//                client connection to TARGET_HOST, the head passed on with an Authorization line
//                added and the body in the same send, the target's answer relayed as it comes;
//   forward      no floor: the aspnet server half plus the plainest SocketsHttpHandler forward to
//                TARGET_HOST (StreamContent over the request body, one Authorization header,
//                the response status and body copied back), i.e. FastProxy less its own code;
//                FORWARD_VERSION=2 asks an https target for HTTP/2, as FastProxy does by default.
//   hand-client  the aspnet server half plus a hand-written HTTP/1.1 client in SocketsHttpHandler's
//                place: one upstream connection per client connection (TLS when TARGET_HOST is
//                https), the head and the body's first bytes in one write, the answer's head parsed
//                by hand. What FastProxy could be at best with its own client and Kestrel kept: no
//                pool, no chunked bodies, no timeouts, no header copying.
// Each uses FastProxy's settings where they apply: 64 KB receive blocks, inline scheduling (with
// DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 and _THREAD_COUNT=1 from the caller), its GC.
// The parsing is only what h2load's requests need (Content-Length bodies, keep-alive); it is a
// measuring stick, not a server.
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using FastProxy.Listener;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

var port = int.Parse(Environment.GetEnvironmentVariable("LISTENING_PORT") ?? "19100", System.Globalization.CultureInfo.InvariantCulture);
var floor = Environment.GetEnvironmentVariable("FLOOR") ?? "aspnet";
switch (floor)
{
    case "socket":
        await SocketFloor.RunAsync(port, target: null);
        return 0;
    case "socket-forward":
        var targetUri = new Uri(Environment.GetEnvironmentVariable("TARGET_HOST") ?? "http://127.0.0.1:19080");
        await SocketFloor.RunAsync(port, new IPEndPoint(IPAddress.Parse(targetUri.Host), targetUri.Port));
        return 0;
    case "aspnet" or "kestrel-raw" or "forward" or "hand-client":
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.ClearProviders();
        builder.Services.Configure<SocketTransportOptions>(o => o.UnsafePreferInlineScheduling = true);
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, port, o =>
            {
                o.Protocols = HttpProtocols.Http1;
                if (floor == "kestrel-raw")
                {
                    o.Run(connection => RawHttp.ServeAsync(connection.Transport));
                }
            });
        });
        var app = builder.Build();
        if (floor == "forward")
        {
            var target = new Uri(Environment.GetEnvironmentVariable("TARGET_HOST") ?? "http://127.0.0.1:19080");
            var upstream = new HttpMessageInvoker(new SocketsHttpHandler
            {
                UseCookies = false,
                AllowAutoRedirect = false,
                UseProxy = false,
                ActivityHeadersPropagator = null,
            });
            // /ready is the harness's start signal; everything else goes to the target.
            app.Run(context => context.Request.Path.Value == "/ready" ? Task.CompletedTask : PlainForward.ForwardAsync(context, upstream, target));
        }
        else if (floor == "hand-client")
        {
            var target = new Uri(Environment.GetEnvironmentVariable("TARGET_HOST") ?? "http://127.0.0.1:19080");
            app.Run(context => context.Request.Path.Value == "/ready" ? Task.CompletedTask : HandClient.ForwardAsync(context, target));
        }
        else
        {
            app.Run(async context =>
            {
                var body = context.Request.BodyReader;
                while (true)
                {
                    var result = await body.ReadAsync();
                    body.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }

                context.Response.StatusCode = 200;
                context.Response.ContentLength = 0;
            });
        }

        await app.RunAsync();
        return 0;
    default:
        Console.Error.WriteLine($"FLOOR={floor}: expected aspnet, kestrel-raw, socket, socket-forward, forward or hand-client");
        return 2;
}

/// <summary>The forward a newcomer would write first: what FastProxy adds is measured against it.</summary>
internal static class PlainForward
{
    public static async Task ForwardAsync(HttpContext context, HttpMessageInvoker upstream, Uri target)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(target, context.Request.Path.Value))
        {
            // FORWARD_VERSION=2: HTTP/2 where an https target offers it, as FastProxy's default.
            Version = Environment.GetEnvironmentVariable("FORWARD_VERSION") == "2" ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        request.Content = new StreamContent(context.Request.Body, 64 * 1024);
        request.Content.Headers.ContentLength = context.Request.ContentLength;
        request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        request.Content.Headers.TryAddWithoutValidation("Content-Encoding", context.Request.Headers.ContentEncoding.ToString());
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer bench-token-0123456789abcdef");
        using var response = await upstream.SendAsync(request, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        context.Response.ContentLength = response.Content.Headers.ContentLength;
        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }
}

/// <summary>
/// Kestrel's server half with a hand-written HTTP/1.1 client: one upstream connection per client
/// connection, kept in the connection's items.
/// </summary>
internal sealed class HandClient : IDisposable
{
    private static ReadOnlySpan<byte> Authorization => "Authorization: Bearer bench-token-0123456789abcdef\r\n"u8;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly byte[] _out = GC.AllocateUninitializedArray<byte>(LargeBlockMemoryPool.BlockSize, pinned: true);
    private readonly byte[] _in = GC.AllocateUninitializedArray<byte>(16 * 1024, pinned: true);
    private readonly byte[] _hostLine;

    private HandClient(Socket socket, Stream stream, Uri target)
    {
        _socket = socket;
        _stream = stream;
        _hostLine = System.Text.Encoding.ASCII.GetBytes($"Host: {target.Authority}\r\n");
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }

    private static async Task<HandClient> ConnectAsync(Uri target)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(target.Host), target.Port));
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (target.Scheme == Uri.UriSchemeHttps)
        {
            var tls = new System.Net.Security.SslStream(stream, leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                // Verified as FastProxy does: the harness trusts its target through SSL_CERT_FILE.
                TargetHost = target.Host,
                ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http11],
            });
            stream = tls;
        }

        return new HandClient(socket, stream, target);
    }

    public static async Task ForwardAsync(HttpContext context, Uri target)
    {
        var items = context.Features.Get<IConnectionItemsFeature>()!.Items;
        HandClient client;
        if (items.TryGetValue(typeof(HandClient), out var held) && held is HandClient open)
        {
            client = open;
        }
        else
        {
            client = await ConnectAsync(target);
            items[typeof(HandClient)] = client;
            context.Features.Get<IConnectionLifetimeFeature>()!.ConnectionClosed.Register(static c => ((HandClient)c!).Dispose(), client);
        }

        await client.SendAsync(context);
        await client.RelayAnswerAsync(context.Response);
    }

    private async Task SendAsync(HttpContext context)
    {
        var request = context.Request;
        var filled = Head(request);
        var body = request.BodyReader;
        while (true)
        {
            var result = await body.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                var rest = segment;
                while (!rest.IsEmpty)
                {
                    var take = Math.Min(rest.Length, _out.Length - filled);
                    rest.Span[..take].CopyTo(_out.AsSpan(filled));
                    filled += take;
                    rest = rest[take..];
                    if (filled == _out.Length)
                    {
                        await _stream.WriteAsync(_out.AsMemory(0, filled));
                        filled = 0;
                    }
                }
            }

            body.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }

            // Nothing more in: what is gathered goes now (the flush before waiting).
            if (filled > 0)
            {
                await _stream.WriteAsync(_out.AsMemory(0, filled));
                filled = 0;
            }
        }

        if (filled > 0)
        {
            await _stream.WriteAsync(_out.AsMemory(0, filled));
        }
    }

    private int Head(HttpRequest request)
    {
        var span = _out.AsSpan();
        var at = Put(span, 0, request.Method);
        span[at++] = (byte)' ';
        at = Put(span, at, request.Path.Value ?? "/");
        at = Put(span, at, request.QueryString.Value ?? "");
        " HTTP/1.1\r\n"u8.CopyTo(span[at..]);
        at += 11;
        _hostLine.CopyTo(span[at..]);
        at += _hostLine.Length;
        at = PutHeader(span, at, "Content-Length", request.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        at = PutHeader(span, at, "Content-Type", request.ContentType);
        at = PutHeader(span, at, "Content-Encoding", request.Headers.ContentEncoding.ToString());
        Authorization.CopyTo(span[at..]);
        at += Authorization.Length;
        span[at++] = (byte)'\r';
        span[at++] = (byte)'\n';
        return at;
    }

    private static int Put(Span<byte> span, int at, string text) => at + System.Text.Encoding.ASCII.GetBytes(text, span[at..]);

    private static int PutHeader(Span<byte> span, int at, string name, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return at;
        }

        at = Put(span, at, name);
        span[at++] = (byte)':';
        span[at++] = (byte)' ';
        at = Put(span, at, value);
        span[at++] = (byte)'\r';
        span[at++] = (byte)'\n';
        return at;
    }

    private async Task RelayAnswerAsync(HttpResponse response)
    {
        int have = 0, headLength;
        while ((headLength = RawHttp.HeadLength(_in.AsSpan(0, have))) < 0)
        {
            var read = await _stream.ReadAsync(_in.AsMemory(have));
            if (read == 0)
            {
                throw new IOException("the target closed the connection");
            }

            have += read;
        }

        // "HTTP/1.1 204 ..."
        response.StatusCode = ((_in[9] - '0') * 100) + ((_in[10] - '0') * 10) + (_in[11] - '0');
        var left = RawHttp.ContentLength(_in.AsSpan(0, headLength));
        response.ContentLength = left;
        if (left == 0)
        {
            return;
        }

        var first = (int)Math.Min(left, have - headLength);
        await response.Body.WriteAsync(_in.AsMemory(headLength, first));
        left -= first;
        while (left > 0)
        {
            var read = await _stream.ReadAsync(_in.AsMemory(0, (int)Math.Min(left, _in.Length)));
            if (read == 0)
            {
                throw new IOException("the target closed the connection");
            }

            await response.Body.WriteAsync(_in.AsMemory(0, read));
            left -= read;
        }
    }
}

/// <summary>Just enough HTTP/1.1 for h2load: a head ending in CRLFCRLF and a Content-Length body.</summary>
internal static class RawHttp
{
    public static ReadOnlySpan<byte> Ok => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"u8;
    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    /// <summary>The length of the head including its blank line, or -1 when it is not complete.</summary>
    public static int HeadLength(ReadOnlySpan<byte> data)
    {
        var end = data.IndexOf(HeadEnd);
        return end < 0 ? -1 : end + HeadEnd.Length;
    }

    public static long ContentLength(ReadOnlySpan<byte> head)
    {
        const string name = "\r\ncontent-length:";
        for (var i = 0; i + name.Length <= head.Length; i++)
        {
            var j = 0;
            while (j < name.Length && (char)(head[i + j] | 0x20) == (name[j] | 0x20))
            {
                j++;
            }

            if (j == name.Length)
            {
                long value = 0;
                for (var k = i + j; k < head.Length && head[k] != '\r'; k++)
                {
                    if (head[k] is >= (byte)'0' and <= (byte)'9')
                    {
                        value = value * 10 + head[k] - '0';
                    }
                }

                return value;
            }
        }

        return 0;
    }

    public static async Task ServeAsync(IDuplexPipe transport)
    {
        var input = transport.Input;
        long bodyLeft = -1;
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            while (true)
            {
                if (bodyLeft < 0)
                {
                    var head = buffer.IsSingleSegment ? buffer.FirstSpan : buffer.ToArray();
                    var length = HeadLength(head);
                    if (length < 0)
                    {
                        break;
                    }

                    bodyLeft = ContentLength(head[..length]);
                    buffer = buffer.Slice(length);
                }

                var take = Math.Min(bodyLeft, buffer.Length);
                buffer = buffer.Slice(take);
                bodyLeft -= take;
                if (bodyLeft > 0)
                {
                    break;
                }

                transport.Output.Write(Ok);
                await transport.Output.FlushAsync();
                bodyLeft = -1;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }
}

/// <summary>System.Net.Sockets with nothing above it: one 64 KB buffer per connection.</summary>
internal static class SocketFloor
{
    public static async Task RunAsync(int port, IPEndPoint? target)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(512);
        while (true)
        {
            var connection = await listener.AcceptAsync();
            connection.NoDelay = true;
            _ = target is null ? ServeAsync(connection) : ForwardAsync(connection, target);
        }
    }

    private static async Task ServeAsync(Socket socket)
    {
        var ok = RawHttp.Ok.ToArray();
        var buffer = GC.AllocateUninitializedArray<byte>(LargeBlockMemoryPool.BlockSize, pinned: true);
        int start = 0, end = 0;
        long bodyLeft = -1;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None);
                if (read == 0)
                {
                    return;
                }

                end += read;
                while (true)
                {
                    if (bodyLeft < 0)
                    {
                        var length = RawHttp.HeadLength(buffer.AsSpan(start, end - start));
                        if (length < 0)
                        {
                            break;
                        }

                        bodyLeft = RawHttp.ContentLength(buffer.AsSpan(start, length));
                        start += length;
                    }

                    var take = (int)Math.Min(bodyLeft, end - start);
                    start += take;
                    bodyLeft -= take;
                    if (bodyLeft > 0)
                    {
                        break;
                    }

                    await socket.SendAsync(ok, SocketFlags.None);
                    bodyLeft = -1;
                }

                // Keep an unfinished head at the front; a body's bytes are never kept.
                buffer.AsSpan(start, end - start).CopyTo(buffer);
                end -= start;
                start = 0;
            }
        }
        catch (SocketException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    private static ReadOnlySpan<byte> Authorization => "Authorization: Bearer bench-token-0123456789abcdef\r\n\r\n"u8;
    private static ReadOnlySpan<byte> ReadyProbe => "GET /ready "u8;

    private static async Task ForwardAsync(Socket client, IPEndPoint target)
    {
        var ok = RawHttp.Ok.ToArray();
        var buffer = GC.AllocateUninitializedArray<byte>(LargeBlockMemoryPool.BlockSize, pinned: true);
        var head = GC.AllocateUninitializedArray<byte>(16 * 1024, pinned: true);
        var answer = GC.AllocateUninitializedArray<byte>(16 * 1024, pinned: true);
        var segments = new ArraySegment<byte>[2];
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        int start = 0, end = 0;
        long bodyLeft = -1;
        try
        {
            await upstream.ConnectAsync(target);
            while (true)
            {
                var read = await client.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None);
                if (read == 0)
                {
                    return;
                }

                end += read;
                while (true)
                {
                    if (bodyLeft < 0)
                    {
                        var length = RawHttp.HeadLength(buffer.AsSpan(start, end - start));
                        if (length < 0)
                        {
                            break;
                        }

                        if (buffer.AsSpan(start).StartsWith(ReadyProbe))
                        {
                            start += length;
                            await client.SendAsync(ok, SocketFlags.None);
                            continue;
                        }

                        bodyLeft = RawHttp.ContentLength(buffer.AsSpan(start, length));
                        // The head less its blank line, then the Authorization line and the blank line.
                        buffer.AsSpan(start, length - 2).CopyTo(head);
                        Authorization.CopyTo(head.AsSpan(length - 2));
                        start += length;
                        var first = (int)Math.Min(bodyLeft, end - start);
                        segments[0] = new ArraySegment<byte>(head, 0, length - 2 + Authorization.Length);
                        segments[1] = new ArraySegment<byte>(buffer, start, first);
                        await upstream.SendAsync(segments, SocketFlags.None);
                        start += first;
                        bodyLeft -= first;
                    }
                    else
                    {
                        var take = (int)Math.Min(bodyLeft, end - start);
                        await upstream.SendAsync(buffer.AsMemory(start, take), SocketFlags.None);
                        start += take;
                        bodyLeft -= take;
                    }

                    if (bodyLeft > 0)
                    {
                        break;
                    }

                    await RelayAnswerAsync(upstream, client, answer);
                    bodyLeft = -1;
                }

                buffer.AsSpan(start, end - start).CopyTo(buffer);
                end -= start;
                start = 0;
            }
        }
        catch (SocketException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>Relays one answer: its head, then Content-Length bytes of body, as they arrive.</summary>
    private static async Task RelayAnswerAsync(Socket upstream, Socket client, byte[] answer)
    {
        int have = 0, headLength;
        while ((headLength = RawHttp.HeadLength(answer.AsSpan(0, have))) < 0)
        {
            var read = await upstream.ReceiveAsync(answer.AsMemory(have), SocketFlags.None);
            if (read == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }

            have += read;
        }

        var left = headLength + RawHttp.ContentLength(answer.AsSpan(0, headLength));
        while (true)
        {
            await client.SendAsync(answer.AsMemory(0, have), SocketFlags.None);
            left -= have;
            if (left <= 0)
            {
                return;
            }

            have = await upstream.ReceiveAsync(answer.AsMemory(0, (int)Math.Min(left, answer.Length)), SocketFlags.None);
            if (have == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }
        }
    }
}
