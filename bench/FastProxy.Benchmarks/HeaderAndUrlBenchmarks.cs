using System.Net;
using BenchmarkDotNet.Attributes;
using FastProxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace FastProxy.Benchmarks;

/// <summary>Steps 2, 3 and 6: target URL, request header copy and rewrite, response header relay.</summary>
public class HeaderAndUrlBenchmarks
{
    private const string RawTarget = "/api/v1/write";

    private ProxyRoute _route = null!;
    private DefaultHttpContext _context = null!;
    private HttpResponseMessage _upstreamResponse = null!;
    private string _authorization = "";
    private string _alternate = RawTarget;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _route = await Fixtures.RouteWithTokenAsync(Fixtures.Options());
        _authorization = _route.Tokens.Current!.AuthorizationHeaderValue;
        _context = Fixtures.RemoteWriteContext(default, new DiscardingResponseBody());
        _upstreamResponse = new HttpResponseMessage(HttpStatusCode.NoContent);
        _upstreamResponse.Headers.TryAddWithoutValidation("Date", "Wed, 26 Nov 2025 18:00:00 GMT");
        _upstreamResponse.Headers.TryAddWithoutValidation("Server", "sink");
        _upstreamResponse.Headers.TryAddWithoutValidation("X-Request-Id", "0f9c2d0e-6a7b-4a53-9d11-3c1c8a3b2f10");
        _upstreamResponse.Headers.TryAddWithoutValidation("Connection", "keep-alive");
    }

    [Benchmark]
    public string TargetUrl() => _route.BuildTargetUrl(RawTarget);

    [Benchmark]
    public Uri TargetUri() => _route.TargetUri(RawTarget);

    /// <summary>A new path every time: the Uri cache misses and a Uri is parsed.</summary>
    [Benchmark]
    public Uri TargetUriUncached() => _route.TargetUri(_alternate = _alternate == RawTarget ? "/api/v1/write?x=1" : RawTarget);

    /// <summary>What any forwarder pays: an empty request message.</summary>
    [Benchmark]
    public HttpRequestMessage RequestMessageOnly() => new(HttpMethod.Post, (Uri?)null);

    /// <summary>Copy Prometheus's headers, add Authorization and X-Forwarded-For (request message included).</summary>
    [Benchmark]
    public HttpRequestMessage RequestHeaders()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, (Uri?)null) { Content = new ByteArrayContent([]) };
        var forwardedFor = HttpForwarder.CopyRequestHeaders(_context, request, request.Content);
        request.Headers.TryAddWithoutValidation("Authorization", _authorization);
        HttpForwarder.AppendForwardedFor(_context, request, forwardedFor);
        return request;
    }

    [Benchmark]
    public int ResponseHeaders()
    {
        var headers = _context.Response.Headers;
        headers.Clear();
        HttpForwarder.CopyResponseHeaders(_upstreamResponse, _context.Response);
        return headers.Count;
    }
}
