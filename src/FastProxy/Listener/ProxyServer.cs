using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Diagnostics;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace FastProxy.Listener;

/// <summary>What a test or the demo may replace; production uses the defaults.</summary>
internal sealed record ProxyServerDependencies
{
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Null means the credential the configuration names, built by <see cref="CredentialFactory"/>.</summary>
    public TokenCredential? Credential { get; init; }

    /// <summary>
    /// The credential of a route's own identity (routes file). Null means <see cref="Credential"/>
    /// when a test set it, else the one <see cref="CredentialFactory"/> builds for the identity.
    /// </summary>
    public Func<IdentityOptions, TokenCredential>? CredentialFor { get; init; }

    /// <summary>Extra logger provider (tests capture logs with it).</summary>
    public ILoggerProvider? ExtraLogger { get; init; }
}

/// <summary>
/// The Kestrel host: an HTTP/1.1 endpoint on LISTENING_PORT (HTTPS with HTTP/1.1 and HTTP/2 when
/// TLS_CERT_FILE is set), optionally an h2c endpoint and a plain-HTTP metrics port, and one
/// request delegate that answers /health, /ready and /metrics and forwards everything else. The
/// listener opens at once; tokens arrive in the background.
/// </summary>
internal sealed class ProxyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ProxyOptions _options;
    private readonly long _createdAt;
    private readonly ProxyMetrics _metrics;
    private readonly OtlpExport? _otlp;

    private ProxyServer(WebApplication app, ProxyOptions options, long createdAt, ProxyMetrics metrics, OtlpExport? otlp)
    {
        _app = app;
        _options = options;
        _createdAt = createdAt;
        _metrics = metrics;
        _otlp = otlp;
    }

    public TokenSources Tokens => _app.Services.GetRequiredService<TokenSources>();

    /// <summary>The routes-file watch, when ROUTES_FILE is set (tests trigger a check with it).</summary>
    internal RoutesFileWatch? RoutesWatch => _app.Services.GetService<RoutesFileWatch>();

    public IServiceProvider Services => _app.Services;

    /// <summary>The bound addresses (ports resolved when 0 was asked for), HTTP/1.1 first.</summary>
    public IReadOnlyList<Uri> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)))
            .ToList();

    public static ProxyServer Create(ProxyOptions options, ProxyServerDependencies? dependencies = null)
    {
        var createdAt = Stopwatch.GetTimestamp();
        dependencies ??= new ProxyServerDependencies();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // Configuration comes from FastProxy's own table; no appsettings file watchers.
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });

        ConfigureLogging(builder.Logging, options, dependencies.ExtraLogger);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout);
        RemoveHostFiltering(builder.Services);
        // Receive blocks, HTTP/2 windows and inline scheduling, chosen by measurement (KestrelTuning).
        KestrelTuning.Apply(builder, options);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            ConfigureLimits(kestrel.Limits, options.Security);
            if (options.Security.Tls is not null)
            {
                // Over TLS, ALPN lets one port offer both protocols (no h2c port; the loader refuses one).
                var tls = kestrel.ApplicationServices.GetRequiredService<ListenerTls>();
                Listen(kestrel, options.ListenAddress, options.ListeningPort, HttpProtocols.Http1AndHttp2, o => o.UseHttps(tls.HandshakeOptions));
            }
            else
            {
                Listen(kestrel, options.ListenAddress, options.ListeningPort, HttpProtocols.Http1);
            }

            if (options.Telemetry.MetricsPort is { } metricsPort)
            {
                // /metrics, /health and /ready only; see RequestHandler. Plain HTTP even with TLS:
                // the kubelet's probes present no client certificate, and nothing is forwarded here.
                Listen(kestrel, options.ListenAddress, metricsPort, HttpProtocols.Http1);
            }

            if (options.H2cPort is { } h2cPort)
            {
                // A cleartext endpoint offering both protocols always picks HTTP/1.1; h2c with
                // prior knowledge needs an endpoint of its own.
                Listen(kestrel, options.ListenAddress, h2cPort, HttpProtocols.Http2);
            }
        });

        var time = dependencies.Time;
        // Telemetry first: the credential is wrapped to time token fetches, and the token gauges
        // read the token sources once the app exists.
        WebApplication? app = null;
        TokenSources? tokens = null;
        var metrics = new ProxyMetrics(() => (tokens ??= app?.Services.GetRequiredService<TokenSources>())?.All ?? [], time);
        var otlp = OtlpExport.Create(options);
        var credential = new MeasuredCredential(dependencies.Credential ?? CredentialFactory.Create(options.Identity), options.Identity.MetricLabel, metrics, time);
        builder.Services.AddSingleton(time);
        var credentialFor = dependencies.CredentialFor ??
                            (dependencies.Credential is { } injected ? _ => injected : identity => CredentialFactory.Create(identity));
        builder.Services.AddSingleton(sp => TokenSources.Create(options, credential, time, sp.GetRequiredService<ILoggerFactory>(),
            identity => new MeasuredCredential(credentialFor(identity), identity.MetricLabel, metrics, time)));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TokenSources>());
        builder.Services.AddSingleton(_ => UpstreamHandlerFactory.Create(options));
        builder.Services.AddSingleton(sp => new TrafficSummary(sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Telemetry"), time, options.Telemetry.SummaryInterval));
        builder.Services.AddSingleton(sp => new ForwardingTelemetry(metrics, sp.GetRequiredService<TrafficSummary>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Forwarding"), time, tracing: otlp?.Tracing == true));
        if (options.Telemetry.MetricsEnabled)
        {
            builder.Services.AddSingleton(_ => new PrometheusScrape(metrics.Meter));
        }

        builder.Services.AddSingleton(sp => new PayloadTap(options.Diagnostics.SampleEvery, options.Diagnostics.Recent,
            options.Diagnostics.MaxBodyBytes, time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Diagnostics"), metrics.Meter));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PayloadTap>());
        if (StartupCodeRelease.Applies)
        {
            builder.Services.AddHostedService(sp => new StartupCodeRelease(sp.GetRequiredService<TokenSources>(),
                sp.GetRequiredService<IHostApplicationLifetime>(), time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Listener")));
        }

        builder.Services.AddSingleton(sp => new ErrorResponder(sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Forwarding"), time, sp.GetRequiredService<ForwardingTelemetry>()));
        // Shared: RequestHandler checks a declared Content-Length, the forwarder a chunked body's streamed count.
        builder.Services.AddSingleton(sp => new AzureBodySizeWatch(metrics.Meter, sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Listener"), time));
        builder.Services.AddSingleton(sp => new HttpForwarder(sp.GetRequiredService<HttpMessageInvoker>(), sp.GetRequiredService<ErrorResponder>(), options, time, sp.GetRequiredService<ForwardingTelemetry>(), sp.GetRequiredService<PayloadTap>(), sp.GetRequiredService<AzureBodySizeWatch>()));
        builder.Services.AddSingleton(sp =>
        {
            var tokens = sp.GetRequiredService<TokenSources>();
            return new RouteTable(options.Routes.Select(r => new ProxyRoute(r, tokens.For(r))));
        });
        if (options.RoutesFile is { } routesFile)
        {
            builder.Services.AddSingleton(sp => new RoutesFileWatch(routesFile, sp.GetRequiredService<TokenSources>(), sp.GetRequiredService<RouteTable>(),
                time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Configuration"), metrics.Meter));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<RoutesFileWatch>());
        }

        if (options.Security.Tls is { } tlsOptions)
        {
            builder.Services.AddSingleton(sp => ListenerTls.Create(tlsOptions, time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Listener"), metrics));
        }

        builder.Services.AddSingleton(sp =>
        {
            var listenerLog = sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Listener");
            var inboundToken = options.Security.InboundTokenFile is { } tokenFile ? InboundToken.Load(tokenFile, time, listenerLog) : null;
            return new RequestHandler(sp.GetRequiredService<RouteTable>(), sp.GetRequiredService<HttpForwarder>(),
                sp.GetRequiredService<ErrorResponder>(), sp.GetRequiredService<TokenSources>(),
                sp.GetService<PrometheusScrape>(), options.Telemetry.MetricsPort, sp.GetRequiredService<PayloadTap>(),
                options.Security, inboundToken, sp.GetRequiredService<AzureBodySizeWatch>());
        });

        builder.Services.AddSingleton(sp => new ClientConnectionErrors(metrics.Meter, sp.GetRequiredService<IMeterFactory>(), options.Security,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy.Listener"), time));

        app = builder.Build();
        // Listening starts before Kestrel does, so no connection's ending is missed.
        app.Services.GetRequiredService<ClientConnectionErrors>();
        var handler = app.Services.GetRequiredService<RequestHandler>();
        app.Run(handler.HandleAsync);
        return new ProxyServer(app, options, createdAt, metrics, otlp);
    }

    /// <summary>
    /// Takes out the Host check that WebApplication puts in front of every request. It compares
    /// Host with ASP.NET Core's AllowedHosts, which FastProxy neither sets nor documents, so it let
    /// everything through, at ≈ 200–300 instructions per request (perf-baselines/CHANGES.md, round 14).
    /// A proxy forwards to its configured target whatever Host the client names.
    /// </summary>
    internal static void RemoveHostFiltering(IServiceCollection services)
    {
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IStartupFilter) && services[i].ImplementationType?.Name == "HostFilteringStartupFilter")
            {
                services.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Kestrel enforces these itself: oversized headers or too many get 431, a body read past
    /// MaxRequestBodySize gets 413 (RequestHandler answers a declared oversized body with a JSON
    /// 413 before forwarding), slow or idle connections are closed.
    /// </summary>
    private static void ConfigureLimits(KestrelServerLimits limits, SecurityOptions security)
    {
        // Bodies stream through and are never held whole; the limit is about abuse of the
        // target's quota, not about memory.
        limits.MaxRequestBodySize = security.MaxRequestBodyBytes;
        limits.MaxRequestHeadersTotalSize = security.MaxRequestHeadersBytes;
        limits.MaxRequestHeaderCount = security.MaxRequestHeaderCount;
        // Kestrel's request line must fit in the header budget too.
        limits.MaxRequestLineSize = Math.Min(limits.MaxRequestLineSize, security.MaxRequestHeadersBytes);
        limits.RequestHeadersTimeout = security.RequestHeadersTimeout;
        limits.KeepAliveTimeout = security.KeepAliveTimeout;
        limits.MinRequestBodyDataRate = security.MinRequestBodyDataRate > 0
            ? new MinDataRate(security.MinRequestBodyDataRate, security.MinDataRateGrace)
            : null;
        limits.MaxConcurrentConnections = security.MaxConcurrentConnections;
        limits.Http2.MaxRequestHeaderFieldSize = Math.Min(limits.Http2.MaxRequestHeaderFieldSize, security.MaxRequestHeadersBytes);
    }

    private static void Listen(KestrelServerOptions kestrel, IPAddress address, int port, HttpProtocols protocols, Action<ListenOptions>? configure = null)
    {
        void Configure(ListenOptions o)
        {
            o.Protocols = protocols;
            configure?.Invoke(o);
        }

        if (address.Equals(IPAddress.IPv6Any))
        {
            // Falls back to IPv4 where IPv6 is disabled, as aad-auth-proxy's ":port" did.
            kestrel.ListenAnyIP(port, Configure);
        }
        else
        {
            kestrel.Listen(address, port, Configure);
        }
    }

    private static void ConfigureLogging(ILoggingBuilder logging, ProxyOptions options, ILoggerProvider? extra)
    {
        logging.ClearProviders();
        if (options.LogFormat == LogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        // A log pipe nobody drains (a stalled container runtime, a full node disk) must not stall
        // forwarding: the console logger's default waits for queue space on the logging thread,
        // which with inline I/O completions is a socket event thread serving other connections.
        // Lines beyond the queue are dropped instead; the logger reports how many when it can.
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);
        if (extra is not null)
        {
            logging.AddProvider(extra);
        }

        logging.SetMinimumLevel(options.LogLevel);
        // The framework's per-request and lifetime chatter is not the operator's business at Information.
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("System.Net.Http", LogLevel.Warning);
        // ASP.NET Core starts an Activity for every request whenever this category logs at any
        // level (HostingApplicationDiagnostics checks IsEnabled(Critical)). FastProxy's spans come
        // from its own source, so with tracing off no Activity is created per request.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // The host logs a failed start (a port already taken) as an error with the exception's
        // stack; the command prints what failed and what to do instead, and an unexpected failure
        // still surfaces with its exception. Critical stays: a background service that stops the
        // host is logged there, exception included.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var logger = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("FastProxy");
        var version = typeof(ProxyServer).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        foreach (var line in _options.Describe())
        {
            Log.EffectiveSetting(logger, version, line);
        }

        var telemetry = _options.Telemetry.Describe(_options);
        Log.EffectiveSetting(logger, version, telemetry);
        var runtime = RuntimeSettings.Describe();
        Log.EffectiveSetting(logger, version, runtime);

        await _app.StartAsync(cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(_createdAt);
        var endpoints = string.Join(", ", Addresses);
        Log.Listening(logger, endpoints, elapsed.TotalMilliseconds);
        // A token, an allow-list or client certificates stand between the port and the identity: nothing to warn about.
        if (!IPAddress.IsLoopback(_options.ListenAddress) && !_options.Security.HasInboundProtection)
        {
            Log.OpenListener(logger, _options.ListeningPort);
        }

        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() => Log.ShuttingDown(logger, _options.DrainTimeout.TotalSeconds));
    }

    /// <summary>Starts and runs until SIGTERM/SIGINT (or <paramref name="cancellationToken"/>), then drains.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);
        await _app.WaitForShutdownAsync(cancellationToken);
    }

    public Task StopAsync() => _app.StopAsync();

    /// <summary>The meter of this server's instruments (tests listen to it).</summary>
    public ProxyMetrics Metrics => _metrics;

    public async ValueTask DisposeAsync()
    {
        // Disposing the OTLP providers flushes the final spans and metrics, while the token
        // sources they observe are still alive.
        _otlp?.Dispose();
        await _app.DisposeAsync();
        _metrics.Dispose();
    }
}
