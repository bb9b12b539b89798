using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.EndToEndTests;

/// <summary>
/// The real Prometheus binary as a child process: its own storage directory and loopback port,
/// a generated configuration that scrapes Prometheus itself (and any extra targets) every second
/// and remote-writes to the given URL. Killed and cleaned up on disposal.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly DirectoryInfo _directory;
    private readonly StringBuilder _output = new();

    private PrometheusServer(Process process, DirectoryInfo directory, int port)
    {
        _process = process;
        _directory = directory;
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public Uri Address { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>PROMETHEUS_BINARY, else /usr/bin/prometheus, else prometheus on PATH; null when there is none.</summary>
    public static string? FindBinary()
    {
        if (Environment.GetEnvironmentVariable("PROMETHEUS_BINARY") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }

        if (File.Exists("/usr/bin/prometheus"))
        {
            return "/usr/bin/prometheus";
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "prometheus"))
            .FirstOrDefault(File.Exists);
    }

    /// <param name="extraTargets">host:port of further targets, scraped as job "extra" at /metrics.</param>
    public static PrometheusServer Start(string binary, string remoteWriteUrl, IReadOnlyList<string>? extraTargets = null)
    {
        var directory = Directory.CreateTempSubdirectory("fastproxy-e2e-prometheus-");
        var port = FreePort.Get();
        var config = Path.Combine(directory.FullName, "prometheus.yml");
        var extraJob = extraTargets is { Count: > 0 }
            ? $"""

                  - job_name: extra
                    static_configs:
                      - targets: [{string.Join(", ", extraTargets.Select(t => $"'{t}'"))}]
                """
            : "";
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: prometheus
                static_configs:
                  - targets: ['127.0.0.1:{port}']{extraJob}
            remote_write:
              - url: {remoteWriteUrl}
                queue_config:
                  batch_send_deadline: 1s
                  min_backoff: 100ms
                  max_backoff: 1s
            """));

        var start = new ProcessStartInfo(binary,
        [
            $"--config.file={config}",
            $"--storage.tsdb.path={Path.Combine(directory.FullName, "data")}",
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory.FullName,
        };
        foreach (var name in new[] { "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy" })
        {
            start.Environment.Remove(name);
        }

        var process = new Process { StartInfo = start };
        var server = new PrometheusServer(process, directory, port);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Prometheus' own /metrics, parsed into (name with labels → value); unlabelled names as they are.</summary>
    public async Task<IReadOnlyDictionary<string, double>> ScrapeAsync(HttpClient client)
    {
        var text = await client.GetStringAsync(new Uri(Address, "/metrics"));
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            if (space > 0 && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                var key = line[..space];
                var brace = key.IndexOf('{', StringComparison.Ordinal);
                // Keyed by bare name: each test's Prometheus has one remote-write queue.
                metrics[brace >= 0 ? key[..brace] : key] = value;
            }
        }

        return metrics;
    }

    /// <summary>
    /// Every raw sample Prometheus' own storage holds in (<paramref name="at"/> − <paramref name="window"/>,
    /// <paramref name="at"/>], as (series key, timestamp in ms): an instant query of the range selector
    /// <c>{__name__=~".+"}[window]</c>, which returns the stored samples unaltered (staleness markers aside).
    /// </summary>
    public async Task<List<(string Series, long TimestampMs)>> QuerySamplesAsync(HttpClient client, DateTimeOffset at, TimeSpan window)
    {
        var selector = Uri.EscapeDataString(string.Create(CultureInfo.InvariantCulture, $"{{__name__=~\".+\"}}[{(long)Math.Ceiling(window.TotalSeconds)}s]"));
        var time = (at.ToUnixTimeMilliseconds() / 1000m).ToString(CultureInfo.InvariantCulture);
        using var response = await client.GetAsync(new Uri(Address, $"/api/v1/query?query={selector}&time={time}"));
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Prometheus' query API answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 500)]}");
        }

        using var json = JsonDocument.Parse(text);
        var data = json.RootElement.GetProperty("data");
        if (data.GetProperty("resultType").GetString() != "matrix")
        {
            throw new InvalidOperationException($"expected a matrix from Prometheus' query API, got {data.GetProperty("resultType")}");
        }

        var samples = new List<(string, long)>();
        foreach (var series in data.GetProperty("result").EnumerateArray())
        {
            var key = RemoteWriteCounter.SeriesKey(series.GetProperty("metric").EnumerateObject()
                .Select(label => new KeyValuePair<string, string>(label.Name, label.Value.GetString() ?? "")));
            foreach (var point in series.GetProperty("values").EnumerateArray())
            {
                // [seconds with millisecond decimals, "value"]: decimal keeps the milliseconds exact.
                samples.Add((key, (long)(point[0].GetDecimal() * 1000m)));
            }
        }

        return samples;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // Already gone, or will be reaped with the test host.
        }

        _process.Dispose();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held open; the temp directory is cleaned up by the OS eventually.
        }
    }
}
