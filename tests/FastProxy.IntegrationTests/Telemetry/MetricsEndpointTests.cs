using System.Net;
using System.Text;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>/metrics scraped after real traffic through FastProxy, and where it is served.</summary>
public sealed class MetricsEndpointTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly Uri Write = new("/api/v1/write?tenant=secret-looking-query", UriKind.Relative);

    [Fact]
    public async Task TrafficThenScrape_CountsRequestsBytesDurationsAndTokenHealth()
    {
        var credential = new StaticTokenCredential("metrics-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        var responseBody = new byte[100_000];
        upstream.Behavior = async (context, _) =>
        {
            await FakeUpstream.ReadBodyAsync(context);
            if (HttpMethods.IsGet(context.Request.Method))
            {
                await context.Response.Body.WriteAsync(responseBody, context.RequestAborted);
            }
            else if (context.Request.Query.ContainsKey("fail"))
            {
                context.Response.StatusCode = 500;
            }
            else
            {
                context.Response.StatusCode = 204;
            }
        };
        await using var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential);
        using var client = TestHttp.CreateClient(proxy.Address);

        // Three POSTs with a length, one chunked POST, one GET with a 100 KB answer, one upstream 500.
        for (var i = 0; i < 3; i++)
        {
            using var r = await client.PostAsync(Write, new ByteArrayContent(new byte[10_000]), Cancel);
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        }

        using (var chunked = await client.PostAsync(Write, new PushContent(async (s, ct) =>
               {
                   await s.WriteAsync(new byte[3_000], ct);
                   await s.FlushAsync(ct);
                   await s.WriteAsync(new byte[2_000], ct);
               }), Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, chunked.StatusCode);
        }

        using (var get = await client.GetAsync(new Uri("/api/v1/query?query=up", UriKind.Relative), Cancel))
        {
            Assert.Equal(responseBody.Length, (await get.Content.ReadAsByteArrayAsync(Cancel)).Length);
        }

        using (var failed = await client.PostAsync(new Uri("/api/v1/write?fail=1", UriKind.Relative), new ByteArrayContent(new byte[10]), Cancel))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        var scrape = await proxy.ScrapeAsync();

        Assert.Equal(4, scrape.Value("fastproxy_requests_total", ("route", "default"), ("method", "POST"), ("status_class", "2xx")));
        Assert.Equal(1, scrape.Value("fastproxy_requests_total", ("method", "POST"), ("status_class", "5xx")));
        Assert.Equal(1, scrape.Value("fastproxy_requests_total", ("method", "GET"), ("status_class", "2xx")));
        Assert.Equal((3 * 10_000) + 5_000 + 10, scrape.Value("fastproxy_request_bytes_total", ("route", "default")));
        Assert.Equal(responseBody.Length, scrape.Value("fastproxy_response_bytes_total", ("route", "default")));
        Assert.Equal(0, scrape.Value("fastproxy_requests_in_flight", ("route", "default")));
        Assert.Equal(6, scrape.Value("fastproxy_request_duration_seconds_count"));
        Assert.Equal(6, scrape.Value("fastproxy_request_duration_seconds_bucket", ("le", "+Inf")));
        Assert.Equal(6, scrape.Value("fastproxy_upstream_duration_seconds_count", ("route", "default")));
        Assert.True(scrape.Value("fastproxy_request_duration_seconds_sum") > 0);
        Assert.Equal(1, scrape.Value("fastproxy_upstream_error_responses_total", ("status_class", "5xx")));
        Assert.Equal(1, scrape.Value("fastproxy_token_refreshes_total", ("outcome", "success")));
        Assert.Equal(1, scrape.Value("fastproxy_token_fetch_duration_seconds_count"));
        var expiry = scrape.Value("fastproxy_token_expiry_seconds");
        Assert.InRange(expiry, 3000, 3600);
        Assert.Equal(1, scrape.Value("fastproxy_token_usable"));
        Assert.Equal(1, scrape.Value("fastproxy_build_info"));

        // Bounded labels: no path, query or user agent anywhere in the scrape.
        Assert.DoesNotContain("api/v1", scrape.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-looking-query", scrape.Text, StringComparison.Ordinal);
        Assert.All(scrape.Samples.SelectMany(s => s.Labels.Keys).Distinct(),
            label => Assert.Contains(label, new[] { "route", "method", "status_class", "kind", "scope", "identity", "outcome", "le", "version", "runtime" }));
        // The scrape itself is not forwarded.
        Assert.Equal(6, upstream.Requests.Count);
    }

    [Fact]
    public async Task UpstreamDown_CountsConnectErrorsAndNoTokenRejections()
    {
        var closedPort = FreePort.Get();
        await using var proxy = await TelemetryHarness.StartAsync($"http://127.0.0.1:{closedPort}", new StaticTokenCredential("t"));
        using var client = TestHttp.CreateClient(proxy.Address);

        for (var i = 0; i < 2; i++)
        {
            using var r = await client.PostAsync(Write, new ByteArrayContent(new byte[100]), Cancel);
            Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode);
        }

        var scrape = await proxy.ScrapeAsync();
        Assert.Equal(2, scrape.Value("fastproxy_upstream_errors_total", ("kind", "connect")));
        Assert.Equal(2, scrape.Value("fastproxy_requests_total", ("status_class", "5xx")));
    }

    [Fact]
    public async Task NoToken_CountsNoTokenAndFailedRefreshes()
    {
        await using var upstream = await FakeUpstream.StartAsync("never");
        await using var proxy = await TelemetryHarness.StartAsync(new Dictionary<string, string> { ["TARGET_HOST"] = upstream.BaseUrl },
            new FailingCredential(), waitForToken: false);
        await Task.WhenAll(proxy.Server.Tokens.All.Select(s => s.FirstAttempt)).WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var r = await client.PostAsync(Write, new ByteArrayContent(new byte[100]), Cancel);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);

        var scrape = await proxy.ScrapeAsync();
        Assert.Equal(1, scrape.Value("fastproxy_proxy_errors_total", ("kind", "no_token")));
        Assert.True(scrape.Value("fastproxy_token_refreshes_total", ("outcome", "unreachable")) >= 1);
        Assert.Equal(0, scrape.Value("fastproxy_token_usable"));
        Assert.False(scrape.Has("fastproxy_token_expiry_seconds"));
    }

    [Fact]
    public async Task MetricsPort_ServesMetricsThere_AndListeningPortProxiesMetrics()
    {
        var credential = new StaticTokenCredential("port-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        upstream.ResponseBody = Encoding.UTF8.GetBytes("target's own metrics");
        var metricsPort = FreePort.Get();
        await using var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential,
            ("METRICS_PORT", metricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var client = TestHttp.CreateClient(proxy.Address);

        var proxied = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative), Cancel);
        Assert.Equal("target's own metrics", proxied);

        var admin = new Uri($"http://127.0.0.1:{metricsPort}/");
        var scrape = await proxy.ScrapeAsync(admin);
        Assert.Equal(1, scrape.Value("fastproxy_requests_total", ("method", "GET"), ("status_class", "2xx")));
        using var adminClient = TestHttp.CreateClient(admin);
        using var ready = await adminClient.GetAsync(new Uri("/ready", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var other = await adminClient.GetAsync(new Uri("/api/v1/query", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task MetricsDisabled_MetricsPathIsProxied()
    {
        var credential = new StaticTokenCredential("off-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        upstream.ResponseBody = Encoding.UTF8.GetBytes("target");
        await using var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential, ("METRICS_ENABLED", "false"));
        using var client = TestHttp.CreateClient(proxy.Address);

        Assert.Equal("target", await client.GetStringAsync(new Uri("/metrics", UriKind.Relative), Cancel));
    }

    [Fact]
    public async Task TracingOff_HostingCreatesNoActivityPerRequest()
    {
        await using var proxy = await TelemetryHarness.StartAsync("http://127.0.0.1:9", new StaticTokenCredential("t"));
        var loggers = (Microsoft.Extensions.Logging.ILoggerFactory)proxy.Server.Services.GetService(typeof(Microsoft.Extensions.Logging.ILoggerFactory))!;

        // HostingApplicationDiagnostics starts an Activity per request when this logger is enabled at Critical.
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(Microsoft.Extensions.Logging.LogLevel.Critical));
    }
}

/// <summary>A credential whose identity endpoint cannot be reached.</summary>
internal sealed class FailingCredential : Azure.Core.TokenCredential
{
    public override Azure.Core.AccessToken GetToken(Azure.Core.TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        throw new HttpRequestException("connection refused (127.0.0.1:1)");

    public override ValueTask<Azure.Core.AccessToken> GetTokenAsync(Azure.Core.TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromException<Azure.Core.AccessToken>(new HttpRequestException("connection refused (127.0.0.1:1)"));
}
