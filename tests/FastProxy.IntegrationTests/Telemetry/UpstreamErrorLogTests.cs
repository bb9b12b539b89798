using System.Net;
using System.Text;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>Upstream error responses: logged with status and at most 1 KiB of body, relayed whole and unbuffered.</summary>
public sealed class UpstreamErrorLogTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ErrorResponse_LoggedWithFirstKibibyte_RelayedInFull()
    {
        var credential = new StaticTokenCredential("error-log-token");
        await using var upstream = await FakeUpstream.StartAsync(credential.Token);
        var body = Encoding.UTF8.GetBytes("{\"error\":\"too many samples\"}" + new string('x', 300_000));
        upstream.Behavior = async (context, _) =>
        {
            await FakeUpstream.ReadBodyAsync(context);
            context.Response.StatusCode = 400;
            // Written in pieces without a Content-Length: chunked.
            for (var offset = 0; offset < body.Length; offset += 50_000)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(50_000, body.Length - offset)), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        };
        await using var proxy = await TelemetryHarness.StartAsync(upstream.BaseUrl, credential);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[10]), Cancel);
        var relayed = await response.Content.ReadAsByteArrayAsync(Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(body, relayed);
        var line = Assert.Single(proxy.Logs.Entries, e => e.EventId == 306);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, line.Level);
        var formatted = line.Message.Split(" | ")[0];
        Assert.Contains("Target answered 400 on route default", formatted, StringComparison.Ordinal);
        Assert.Contains("{\"error\":\"too many samples\"}", formatted, StringComparison.Ordinal);
        Assert.Contains("(truncated)", formatted, StringComparison.Ordinal);
        Assert.InRange(formatted.Count(c => c == 'x'), 900, 1024);

        var scrape = await proxy.ScrapeAsync();
        Assert.Equal(body.Length, scrape.Value("fastproxy_response_bytes_total"));
        Assert.Equal(1, scrape.Value("fastproxy_requests_total", ("status_class", "4xx")));
    }
}
