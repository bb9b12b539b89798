using System.Net;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

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
    private readonly Lock _gate = new();
    private readonly List<(DateTimeOffset From, DateTimeOffset To)> _outages = [];
    private WebApplication? _app;
    private DateTimeOffset? _downSince;

    private RestartableHost(RequestDelegate handler, int port)
    {
        _handler = handler;
        Port = port;
    }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public bool IsUp => _app is not null;

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

    public static async Task<RestartableHost> StartAsync(RequestDelegate handler)
    {
        var host = new RestartableHost(handler, FreePort.Get());
        await host.StartAsync();
        return host;
    }

    /// <summary>Starts a new server on <see cref="Port"/>.</summary>
    public async Task StartAsync()
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("already running");
        }

        var deadline = DateTime.UtcNow + RebindTimeout;
        while (true)
        {
            var app = Build();
            try
            {
                await app.StartAsync();
                _app = app;
                break;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // The old listener's socket is still being torn down; bounded by the deadline.
                await app.DisposeAsync();
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
        var app = _app ?? throw new InvalidOperationException("not running");
        _app = null;
        lock (_gate)
        {
            _downSince = DateTimeOffset.UtcNow;
        }

        // An already-cancelled token skips the graceful drain: Kestrel aborts every connection.
        await app.StopAsync(new CancellationToken(canceled: true));
        await app.DisposeAsync();
    }

    private WebApplication Build()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, Port);
        });
        var app = builder.Build();
        app.Run(_handler);
        return app;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(new CancellationToken(canceled: true));
            await app.DisposeAsync();
        }
    }
}
