using System.Text.Json;
using System.Text.RegularExpressions;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>The Grafana dashboard and the alert rules only name metrics FastProxy exports.</summary>
public sealed partial class DashboardTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>From the test binary's folder, or (with --artifacts-path outside the tree) from this source file's.</summary>
    private static string RepositoryFile(string name, [System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(source)! })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "FastProxy.sln")))
                {
                    return File.ReadAllText(Path.Combine(directory.FullName, name));
                }
            }
        }

        throw new InvalidOperationException("repository root not found");
    }

    [GeneratedRegex("fastproxy_[a-z0-9_]+")]
    private static partial Regex MetricName();

    /// <summary>Scrapes a proxy after traffic that makes every FastProxy series appear at least once.</summary>
    private static async Task<Scrape> ScrapeAfterTrafficAsync()
    {
        var credential = new StaticTokenCredential("dashboard-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        upstream.Behavior = async (context, _) =>
        {
            await FakeUpstream.ReadBodyAsync(context);
            if (context.Request.Query.ContainsKey("cut"))
            {
                context.Abort();
                return;
            }

            context.Response.StatusCode = context.Request.Query.ContainsKey("reject") ? 413 : 200;
            await context.Response.WriteAsync("{\"status\":\"success\"}", context.RequestAborted);
        };
        // The tap is on so that its payload figures are exported too. The target comes from a
        // routes file (one catch-all route, named as TARGET_HOST's), so that a refused change of the
        // file can be counted below.
        var directory = Directory.CreateTempSubdirectory("fastproxy-dashboard-").FullName;
        using var removeDirectory = new DirectoryRemoval(directory);
        var routesFile = Path.Combine(directory, "routes.yaml");
        await File.WriteAllTextAsync(routesFile, $"routes:\n  - {{name: default, pathPrefix: /, target: '{upstream.BaseUrl}'}}\n", Cancel);
        await using var proxy = await TelemetryHarness.StartAsync(
            new Dictionary<string, string> { ["ROUTES_FILE"] = routesFile, ["DIAGNOSTICS_SAMPLE_EVERY"] = "1" }, credential);
        using var client = TestHttp.CreateClient(proxy.Address);
        foreach (var target in new[] { "/api/v1/write", "/api/v1/write?reject=1", "/api/v1/write?cut=1" })
        {
            using var response = await client.PostAsync(new Uri(target, UriKind.Relative), new ByteArrayContent(new byte[100]), Cancel);
        }

        using (var remoteWrite = new ByteArrayContent(Fixtures.RemoteWrite()[0].Body))
        {
            remoteWrite.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-protobuf");
            using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), remoteWrite, Cancel);
        }

        // The tap decodes off the request path: wait (bounded) until its summary is recorded.
        var tap = proxy.Server.Services.GetRequiredService<FastProxy.Diagnostics.PayloadTap>();
        Assert.True(SpinWait.SpinUntil(() => tap.Recent.Any(r => r.Summary is not null), TimeSpan.FromSeconds(20)), "the tap did not decode the remote-write body");

        // An asterisk-form target is not forwarded (400) and counted as a proxy error.
        Assert.Equal(400, await RawHttp.SendAsync(proxy.Address.Port, "OPTIONS", "*", Cancel));

        await File.WriteAllTextAsync(routesFile, "routes: [", Cancel);
        Assert.Equal(FastProxy.Configuration.RoutesCheckOutcome.Refused, await proxy.Server.RoutesWatch!.CheckAsync(Cancel));
        return await proxy.ScrapeAsync();
    }

    private sealed class DirectoryRemoval(string path) : IDisposable
    {
        public void Dispose() => Directory.Delete(path, recursive: true);
    }

    [Fact]
    public async Task DashboardAndAlerts_ReferenceOnlyExportedMetrics()
    {
        var scrape = await ScrapeAfterTrafficAsync();
        var exported = scrape.Samples.Select(s => s.Name).Concat(scrape.Families).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("fastproxy_upstream_errors_total", exported);
        Assert.Contains("fastproxy_proxy_errors_total", exported);

        var dashboard = RepositoryFile("deploy/dashboards/fastproxy-grafana.json");
        using (var json = JsonDocument.Parse(dashboard))
        {
            Assert.Equal("FastProxy", json.RootElement.GetProperty("title").GetString());
            Assert.True(json.RootElement.GetProperty("panels").GetArrayLength() > 10);
        }

        var alerts = RepositoryFile("deploy/dashboards/fastproxy-alerts.yaml");
        foreach (var (file, text) in new[] { ("dashboard", dashboard), ("alerts", alerts) })
        {
            var referenced = MetricName().Matches(text).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
            Assert.NotEmpty(referenced);
            Assert.All(referenced, name => Assert.True(exported.Contains(name), $"{file} references {name}, which FastProxy does not export"));
        }
    }

    [Fact]
    public void Dashboard_CoversThroughputLatencyErrorsAndTokenHealth()
    {
        var dashboard = RepositoryFile("deploy/dashboards/fastproxy-grafana.json");
        var alerts = RepositoryFile("deploy/dashboards/fastproxy-alerts.yaml");

        foreach (var name in new[] { "fastproxy_requests_total", "fastproxy_request_duration_seconds_bucket", "fastproxy_upstream_duration_seconds_bucket",
                     "fastproxy_upstream_errors_total", "fastproxy_token_expiry_seconds", "fastproxy_token_refreshes_total" })
        {
            Assert.Contains(name, dashboard, StringComparison.Ordinal);
        }

        foreach (var alert in new[] { "FastProxyTokenExpiringSoon", "FastProxyUpstreamErrors", "FastProxyHigh5xxRate", "FastProxyRoutesFileRefused" })
        {
            Assert.Contains("alert: " + alert, alerts, StringComparison.Ordinal);
        }
    }
}
