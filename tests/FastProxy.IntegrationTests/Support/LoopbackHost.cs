using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastProxy.IntegrationTests.Support;

/// <summary>A real Kestrel server on 127.0.0.1 with an ephemeral port, running one request delegate.</summary>
internal sealed class LoopbackHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConnectionCounter _connections;
    private int _stopped;

    private LoopbackHost(WebApplication app, Uri address, ConnectionCounter connections)
    {
        _app = app;
        Address = address;
        _connections = connections;
    }

    /// <summary>TCP connections open right now.</summary>
    public int OpenConnections => _connections.Open;

    /// <summary>TCP connections accepted since start.</summary>
    public int AcceptedConnections => _connections.Accepted;

    /// <summary>The most connections that were open at once.</summary>
    public int PeakConnections => _connections.Peak;

    /// <summary>Notified on every connection opened or closed.</summary>
    public ChangeSignal ConnectionsChanged => _connections.Changed;

    /// <summary>The base address, e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public Uri Address { get; }

    public string BaseUrl => Address.GetLeftPart(UriPartial.Authority);

    public int Port => Address.Port;

    /// <param name="port">0 for an ephemeral port; a fixed one to come back on the port of a host that was stopped.</param>
    /// <param name="connections">Counts to carry on from a previous host on the same port.</param>
    /// <param name="certificate">Serve HTTPS with it (ALPN offers what <paramref name="protocols"/> allows).</param>
    public static async Task<LoopbackHost> StartAsync(RequestDelegate handler, HttpProtocols protocols = HttpProtocols.Http1, int port = 0,
        ConnectionCounter? connections = null, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var counter = connections ?? new ConnectionCounter();
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
            kestrel.Listen(IPAddress.Loopback, port, o =>
            {
                o.Protocols = protocols;
                o.Use(next => async connection =>
                {
                    counter.Opened();
                    try
                    {
                        await next(connection);
                    }
                    finally
                    {
                        counter.Closed();
                    }
                });
                if (certificate is not null)
                {
                    o.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new LoopbackHost(app, new Uri(address), counter);
    }

    /// <summary>The counts of this host, to hand to a host started later on the same port.</summary>
    public ConnectionCounter Connections => _connections;

    /// <summary>
    /// Stops the way a crashed process does: the listener closes and every open connection is
    /// aborted at once, in-flight requests included (Kestrel's drain is given no time).
    /// </summary>
    public async Task KillAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        using var noDrain = new CancellationTokenSource();
        await noDrain.CancelAsync();
        try
        {
            await _app.StopAsync(noDrain.Token);
        }
        catch (OperationCanceledException)
        {
            // Expected: the drain was cancelled before it began.
        }

        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Open, accepted and peak TCP connections of a <see cref="LoopbackHost"/>.</summary>
internal sealed class ConnectionCounter
{
    private int _open;
    private int _accepted;
    private int _peak;

    public int Open => Volatile.Read(ref _open);

    public int Accepted => Volatile.Read(ref _accepted);

    public int Peak => Volatile.Read(ref _peak);

    public ChangeSignal Changed { get; } = new();

    public void Opened()
    {
        Interlocked.Increment(ref _accepted);
        var open = Interlocked.Increment(ref _open);
        int peak;
        while (open > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, open, peak) != peak)
        {
        }

        Changed.Notify();
    }

    public void Closed()
    {
        Interlocked.Decrement(ref _open);
        Changed.Notify();
    }
}
