using System.Collections.Concurrent;
using System.Globalization;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.IntegrationTests.Support;
using FastProxy.Listener;
using Microsoft.Extensions.Logging;

namespace FastProxy.IntegrationTests.Telemetry;

internal sealed record CapturedLog(string Category, LogLevel Level, int EventId, string Message);

/// <summary>Keeps every log line (formatted, with exception and state values) for the telemetry tests.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyList<CapturedLog> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The formatted text, the raw state values (what a JSON console would print) and the exception.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            owner._entries.Enqueue(new CapturedLog(category, logLevel, eventId.Id, $"{formatter(state, exception)} | {values} | {exception}"));
        }
    }
}

/// <summary>A parsed Prometheus text scrape: sample lines by metric name and labels.</summary>
internal sealed class Scrape
{
    private Scrape(string text, List<(string Name, Dictionary<string, string> Labels, double Value)> samples)
    {
        Text = text;
        Samples = samples;
    }

    public string Text { get; }

    public IReadOnlyList<(string Name, Dictionary<string, string> Labels, double Value)> Samples { get; }

    /// <summary>Metric family names (from the TYPE lines).</summary>
    public IReadOnlySet<string> Families => Text.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
        .Select(l => l.Split(' ')[2]).ToHashSet(StringComparer.Ordinal);

    public static Scrape Parse(string text)
    {
        var samples = new List<(string, Dictionary<string, string>, double)>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.LastIndexOf(' ');
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            string name;
            if (brace >= 0)
            {
                name = line[..brace];
                var body = line[(brace + 1)..line.LastIndexOf('}')];
                foreach (var pair in body.Split("\","))
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    labels[pair[..eq]] = pair[(eq + 2)..].TrimEnd('"');
                }
            }
            else
            {
                name = line[..space];
            }

            var raw = line[(space + 1)..];
            var value = raw == "+Inf" ? double.PositiveInfinity : double.Parse(raw, CultureInfo.InvariantCulture);
            samples.Add((name, labels, value));
        }

        return new Scrape(text, samples);
    }

    /// <summary>The sum of the samples of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    public double Value(string name, params (string Name, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).Sum(s => s.Value);

    public bool Has(string name, params (string Name, string Value)[] labels) =>
        Samples.Any(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value));

    /// <summary>
    /// Scrapes until no request is in flight, at most 500 times with <paramref name="pause"/> in
    /// between, and returns the last scrape. A request leaves the in-flight count only after its
    /// response is written, so a scrape right after a response can still see it; one that leaked
    /// stays in flight through every attempt, and the caller's assertion on the result fails.
    /// </summary>
    public static async Task<Scrape> UntilNothingInFlightAsync(Func<Task<Scrape>> scrapeOnce, TimeSpan pause)
    {
        var scrape = await scrapeOnce();
        for (var attempt = 1; attempt < 500 && scrape.Value("fastproxy_requests_in_flight") != 0; attempt++)
        {
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, TestContext.Current.CancellationToken);
            }

            scrape = await scrapeOnce();
        }

        return scrape;
    }
}

/// <summary>FastProxy in the test process with captured logs, configured through the real loader.</summary>
internal sealed class TelemetryHarness : IAsyncDisposable
{
    private TelemetryHarness(ProxyServer server, LogCapture logs)
    {
        Server = server;
        Logs = logs;
        Address = server.Addresses[0];
    }

    public ProxyServer Server { get; }

    public LogCapture Logs { get; }

    public Uri Address { get; }

    public static async Task<TelemetryHarness> StartAsync(IReadOnlyDictionary<string, string> environment, TokenCredential credential,
        TimeProvider? time = null, bool waitForToken = true)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["LOG_FORMAT"] = "json",
            ["LOG_LEVEL"] = "trace",
        };
        foreach (var (name, value) in environment)
        {
            variables[name] = value;
        }

        var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(), variables.GetValueOrDefault).Load();
        Assert.True(loaded.IsValid, "test configuration invalid: " + string.Join("; ", loaded.Errors));
        var logs = new LogCapture();
        var server = ProxyServer.Create(loaded.Options! with { ListeningPort = 0 },
            new ProxyServerDependencies { Credential = credential, ExtraLogger = logs, Time = time ?? TimeProvider.System });
        await server.StartAsync();
        if (waitForToken)
        {
            await Task.WhenAll(server.Tokens.All.Select(s => s.FirstToken)).WaitAsync(TimeSpan.FromSeconds(10));
        }

        return new TelemetryHarness(server, logs);
    }

    public static Task<TelemetryHarness> StartAsync(string targetHost, TokenCredential credential, params (string Name, string Value)[] extra)
    {
        var environment = extra.ToDictionary(e => e.Name, e => e.Value, StringComparer.Ordinal);
        environment["TARGET_HOST"] = targetHost;
        return StartAsync(environment, credential);
    }

    /// <summary>
    /// The scrape once every request that started has been counted. A client holds its response
    /// before the forwarder records the request (the recorded duration includes writing the
    /// response), so a scrape right after the last response could miss it: scrape until nothing
    /// is in flight (bounded), then once more, since one scrape may read the gauge after the
    /// counters.
    /// </summary>
    public async Task<Scrape> ScrapeAsync(Uri? address = null)
    {
        var settled = await Scrape.UntilNothingInFlightAsync(() => ScrapeOnceAsync(address), TimeSpan.Zero);
        if (settled.Value("fastproxy_requests_in_flight") != 0)
        {
            throw new TimeoutException("requests stayed in flight through 500 scrapes");
        }

        return await ScrapeOnceAsync(address);
    }

    private async Task<Scrape> ScrapeOnceAsync(Uri? address)
    {
        using var client = TestHttp.CreateClient(address ?? Address);
        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return Scrape.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        await Server.DisposeAsync();
    }
}
