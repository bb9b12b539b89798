using System.Security.Cryptography.X509Certificates;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastProxy.EndToEndTests;

/// <summary>
/// A real Kestrel server on a fixed 127.0.0.1 port that can be killed (every connection aborted,
/// the port closed) and started again on the same port, so that whoever points at it sees an
/// outage and then the same address come back — as a restarted pod behind a fixed address does.
/// </summary>
internal sealed class RestartableHost : IAsyncDisposable
{
    private static readonly TimeSpan RebindTimeout = TimeSpan.FromSeconds(10);

    private readonly RequestDelegate _handler;
    private readonly X509Certificate2? _certificate;
    private readonly Lock _gate = new();
    private readonly List<(DateTimeOffset From, DateTimeOffset To)> _outages = [];
    private LoopbackHost? _host;
    private DateTimeOffset? _downSince;

    private RestartableHost(RequestDelegate handler, int port, X509Certificate2? certificate)
    {
        _handler = handler;
        _certificate = certificate;
        Port = port;
    }

    public int Port { get; }

    /// <summary>http://, or https:// (HTTP/2 and HTTP/1.1 by ALPN) when started with a certificate.</summary>
    public string BaseUrl => $"{(_certificate is null ? "http" : "https")}://127.0.0.1:{Port}";

    public bool IsUp => _host is not null;

    /// <summary>Completed outages: from the kill to the moment the new server listened.</summary>
    public IReadOnlyList<(DateTimeOffset From, DateTimeOffset To)> Outages
    {
        get
        {
            lock (_gate)
            {
                return [.. _outages];
            }
        }
    }

    public static async Task<RestartableHost> StartAsync(RequestDelegate handler, X509Certificate2? certificate = null)
    {
        var host = new RestartableHost(handler, FreePort.Get(), certificate);
        await host.StartAsync();
        return host;
    }

    /// <summary>Starts a new server on <see cref="Port"/>.</summary>
    public async Task StartAsync()
    {
        if (_host is not null)
        {
            throw new InvalidOperationException("already running");
        }

        var deadline = DateTime.UtcNow + RebindTimeout;
        while (true)
        {
            try
            {
                _host = _certificate is null
                    ? await LoopbackHost.StartAsync(_handler, port: Port)
                    : await LoopbackHost.StartAsync(_handler, HttpProtocols.Http1AndHttp2, Port, certificate: _certificate);
                break;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // The old listener's socket is still being torn down; bounded by the deadline.
                await Task.Delay(50);
            }
        }

        lock (_gate)
        {
            if (_downSince is { } since)
            {
                _outages.Add((since, DateTimeOffset.UtcNow));
                _downSince = null;
            }
        }
    }

    /// <summary>Stops the server at once: open connections and in-flight requests are aborted, the port closes.</summary>
    public async Task KillAsync()
    {
        var host = _host ?? throw new InvalidOperationException("not running");
        _host = null;
        lock (_gate)
        {
            _downSince = DateTimeOffset.UtcNow;
        }

        await host.KillAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is { } host)
        {
            _host = null;
            await host.KillAsync();
        }
    }
}
