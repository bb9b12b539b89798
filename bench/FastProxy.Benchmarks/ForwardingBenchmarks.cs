using System.Buffers;
using BenchmarkDotNet.Attributes;
using FastProxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Benchmarks;

/// <summary>
/// The whole per-request path, <see cref="HttpForwarder.ForwardAsync"/>, against an in-memory
/// upstream. Allocated bytes per operation is the figure: each operation also builds a
/// DefaultHttpContext (Kestrel reuses its per connection), so compare with
/// <see cref="Baseline_MinimalForward12K"/>, which pays the same context and upstream costs with
/// the least a forwarder can do (cached Uri, StreamContent, no headers); the difference is FastProxy's own.
/// </summary>
public class ForwardingBenchmarks
{
    private static readonly Uri CachedTarget = new("http://127.0.0.1:9090/api/v1/write");

    private readonly DiscardingResponseBody _response = new();
    private ProxyRoute _route = null!;
    private HttpForwarder _forwarder = null!;
    private HttpForwarder _getForwarder = null!;
    private HttpMessageInvoker _upstream = null!;
    private ReadOnlySequence<byte> _body12K;
    private ReadOnlySequence<byte> _body49K;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var options = Fixtures.Options();
        _route = await Fixtures.RouteWithTokenAsync(options);
        var errors = new ErrorResponder(NullLogger.Instance, TimeProvider.System);
        _upstream = new HttpMessageInvoker(new CannedUpstream(null));
        _forwarder = new HttpForwarder(_upstream, errors, options, TimeProvider.System);
        _getForwarder = new HttpForwarder(new HttpMessageInvoker(new CannedUpstream(new byte[1024 * 1024])), errors, options, TimeProvider.System);
        _body12K = Fixtures.Segmented(Fixtures.Body("batch-12826.snappy"));
        _body49K = Fixtures.Segmented(Fixtures.Body("batch-49264.snappy"));
    }

    [Benchmark]
    public Task Forward12K() => _forwarder.ForwardAsync(Fixtures.RemoteWriteContext(_body12K, _response), _route, "/api/v1/write");

    [Benchmark]
    public Task Forward49K() => _forwarder.ForwardAsync(Fixtures.RemoteWriteContext(_body49K, _response), _route, "/api/v1/write");

    /// <summary>A PromQL-style GET whose 1 MB response streams back.</summary>
    [Benchmark]
    public Task ForwardGet1M()
    {
        var context = Fixtures.RemoteWriteContext(default, _response);
        context.Request.Method = HttpMethods.Get;
        context.Request.ContentLength = null;
        return _getForwarder.ForwardAsync(context, _route, "/api/v1/query_range?query=up");
    }

    /// <summary>The same context and upstream with the least a forwarder can do.</summary>
    [Benchmark(Baseline = true)]
    public async Task Baseline_MinimalForward12K()
    {
        var context = Fixtures.RemoteWriteContext(_body12K, _response);
        using var request = new HttpRequestMessage(HttpMethod.Post, CachedTarget) { Content = new StreamContent(context.Request.Body) };
        using var response = await _upstream.SendAsync(request, CancellationToken.None);
        context.Response.StatusCode = (int)response.StatusCode;
    }
}
