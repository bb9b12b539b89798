using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using FastProxy.Diagnostics;
using FastProxy.IntegrationTests.Support;
using FastProxy.Protocol;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace FastProxy.IntegrationTests.Diagnostics;

/// <summary>The sampling tap and the 2.0 → 1.0 translation, through real Kestrel and SocketsHttpHandler.</summary>
public sealed class PayloadDiagnosticsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static HttpRequestMessage Post(byte[] body, string contentType, string version)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        content.Headers.ContentEncoding.Add("snappy");
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
        request.Headers.Add(RemoteWriteHeaders.VersionHeader, version);
        return request;
    }

    private static async Task<IReadOnlyList<RecordedRequest>> SendFixturesAsync(params (string Name, string Value)[] settings)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Status = StatusCodes.Status204NoContent;
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, settings);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        foreach (var (_, body) in Fixtures.RemoteWrite())
        {
            using var response = await client.SendAsync(Post(body, "application/x-protobuf", "0.1.0"), Cancel);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        return upstream.Requests;
    }

    [Fact]
    public async Task TapOnAndOff_ForwardIdenticalBytesAndHeaders()
    {
        var off = await SendFixturesAsync();
        var on = await SendFixturesAsync(("DIAGNOSTICS_SAMPLE_EVERY", "1"));

        Assert.Equal(off.Count, on.Count);
        for (var i = 0; i < off.Count; i++)
        {
            Assert.Equal(off[i].Body, on[i].Body);
            Assert.Equal(off[i].RawTarget, on[i].RawTarget);
            foreach (var name in new[] { "Content-Type", "Content-Encoding", "Content-Length", "X-Prometheus-Remote-Write-Version" })
            {
                Assert.Equal(off[i].Header(name), on[i].Header(name));
            }
        }
    }

    [Fact]
    public async Task TapOn_PayloadsEndpointShowsTheDecodedSummaries()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Status = StatusCodes.Status204NoContent;
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("DIAGNOSTICS_SAMPLE_EVERY", "1"), ("DIAGNOSTICS_RECENT", "3"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = Fixtures.RemoteWrite().Single(f => f.Name == "batch-49264.snappy").Body;
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.SendAsync(Post(body, "application/x-protobuf", "0.1.0"), Cancel);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        // Decoding happens off the request path: wait (bounded) until the tap has recorded them.
        var tap = proxy.Server.Services.GetRequiredService<PayloadTap>();
        Assert.True(SpinWait.SpinUntil(() => tap.Recent.Count == 3, TimeSpan.FromSeconds(20)), "the tap did not decode the sampled bodies");
        using var json = JsonDocument.Parse(await client.GetStringAsync(new Uri("/fastproxy/payloads", UriKind.Relative), Cancel));
        var payloads = json.RootElement.GetProperty("payloads");
        Assert.Equal(3, payloads.GetArrayLength());
        var newest = payloads[0];
        Assert.Equal(2000, newest.GetProperty("series").GetInt32());
        Assert.Equal(2000, newest.GetProperty("samples").GetInt32());
        Assert.Equal(body.Length, newest.GetProperty("compressedBytes").GetInt32());
        Assert.Equal(321505, newest.GetProperty("uncompressedBytes").GetInt32());
        Assert.DoesNotContain(upstream.Requests, r => r.RawTarget.StartsWith("/fastproxy", StringComparison.Ordinal));
        var text = await client.GetStringAsync(new Uri("/fastproxy/payloads?format=text", UriKind.Relative), Cancel);
        Assert.Contains("2000 series, 2000 samples", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TapOff_PayloadsPathIsProxiedLikeAnyOther()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.GetAsync(new Uri("/fastproxy/payloads", UriKind.Relative), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/fastproxy/payloads", Assert.Single(upstream.Requests).RawTarget);
    }

    private static byte[] RemoteWriteV2Body()
    {
        var request = new Protocol.V2.Request();
        request.Symbols.Add("");
        request.Symbols.Add("__name__");
        request.Symbols.Add("up");
        request.Symbols.Add("job");
        request.Symbols.Add("prometheus");
        for (var i = 0; i < 3; i++)
        {
            var series = new Protocol.V2.TimeSeries();
            series.LabelsRefs.Add([1, 2, 3, 4]);
            series.Samples.Add(new Protocol.V2.Sample { Value = i, Timestamp = 1_795_716_123_258 + i });
            series.Samples.Add(new Protocol.V2.Sample { Value = i + 1, Timestamp = 1_795_716_124_258 + i });
            request.Timeseries.Add(series);
        }

        return SnappyBlockCodec.Compress(request.ToByteArray());
    }

    [Fact]
    public async Task TranslationOn_V2BodyArrivesAs1_0AndTheClientGetsWrittenCounts()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Status = StatusCodes.Status204NoContent;
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("TRANSLATE_REMOTE_WRITE_V2", "true"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post(RemoteWriteV2Body(), RemoteWriteHeaders.ContentTypeV2, "2.0.0"), Cancel);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("6", response.Headers.GetValues(RemoteWriteHeaders.SamplesWrittenHeader).Single());
        Assert.Equal("0", response.Headers.GetValues(RemoteWriteHeaders.HistogramsWrittenHeader).Single());
        var arrived = Assert.Single(upstream.Requests);
        Assert.Equal("application/x-protobuf", arrived.Header("Content-Type"));
        Assert.Equal("0.1.0", arrived.Header("X-Prometheus-Remote-Write-Version"));
        Assert.Equal("snappy", arrived.Header("Content-Encoding"));
        var summary = PayloadSummaryReader.SummarizeSnappy(arrived.Body, RemoteWriteVersion.V1);
        Assert.Equal(3, summary.Series);
        Assert.Equal(6, summary.Samples);
    }

    [Fact]
    public async Task TranslationOff_V2BodyIsForwardedUntouched()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Status = StatusCodes.Status204NoContent;
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var body = RemoteWriteV2Body();

        using var response = await client.SendAsync(Post(body, RemoteWriteHeaders.ContentTypeV2, "2.0.0"), Cancel);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(body, Assert.Single(upstream.Requests).Body);
        Assert.False(response.Headers.Contains(RemoteWriteHeaders.SamplesWrittenHeader));
    }

    [Fact]
    public async Task TranslationOn_UndecodableV2Body_Is400WithAReasonAndNothingForwarded()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, ("TRANSLATE_REMOTE_WRITE_V2", "true"));
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);

        using var response = await client.SendAsync(Post([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59], RemoteWriteHeaders.ContentTypeV2, "2.0.0"), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("bad_remote_write_body", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Empty(upstream.Requests);
    }
}
