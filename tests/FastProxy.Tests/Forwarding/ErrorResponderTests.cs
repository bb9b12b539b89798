using System.Text.Json;
using FastProxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Tests.Forwarding;

public sealed class ErrorResponderTests
{
    [Theory]
    [InlineData(nameof(ForwarderError.NoToken), 503)]
    [InlineData(nameof(ForwarderError.UpstreamUnreachable), 502)]
    [InlineData(nameof(ForwarderError.UpstreamTls), 502)]
    [InlineData(nameof(ForwarderError.UpstreamProtocol), 502)]
    [InlineData(nameof(ForwarderError.RequestBodyUpstream), 502)]
    [InlineData(nameof(ForwarderError.ResponseBodyUpstream), 502)]
    [InlineData(nameof(ForwarderError.UpstreamTimeout), 504)]
    [InlineData(nameof(ForwarderError.RequestTargetRejected), 400)]
    [InlineData(nameof(ForwarderError.RequestBodyInvalid), 400)]
    [InlineData(nameof(ForwarderError.RequestBodyClient), 0)]
    [InlineData(nameof(ForwarderError.ResponseBodyClient), 0)]
    [InlineData(nameof(ForwarderError.InboundUnauthorized), 401)]
    [InlineData(nameof(ForwarderError.SourceNotAllowed), 403)]
    [InlineData(nameof(ForwarderError.RequestBodyTooLarge), 413)]
    [InlineData(nameof(ForwarderError.NoRoute), 404)]
    [InlineData(nameof(ForwarderError.ConcurrencyLimitReached), 503)]
    [InlineData(nameof(ForwarderError.ClientCertificateRejected), 403)]
    public void Status_FollowsTheDesignTable(string error, int status) =>
        Assert.Equal(status, ErrorResponder.StatusFor(Enum.Parse<ForwarderError>(error)));

    [Fact]
    public void OwnTrouble_IsNever4xx()
    {
        // Prometheus drops a batch on 4xx; only a malformed request target, an undecodable body, a
        // missing inbound token, a refused source address or an oversized body (which no retry can
        // fix) is the client's fault.
        foreach (var error in Enum.GetValues<ForwarderError>().Where(e => e is not (ForwarderError.RequestTargetRejected or ForwarderError.RequestBodyInvalid
                     or ForwarderError.InboundUnauthorized or ForwarderError.SourceNotAllowed or ForwarderError.RequestBodyTooLarge
                     // A path outside every route of ROUTES_FILE: the configuration's, not FastProxy's trouble.
                     or ForwarderError.NoRoute
                     // mTLS: the client has no certificate of a trusted CA; no retry brings one.
                     or ForwarderError.ClientCertificateRejected)))
        {
            var status = ErrorResponder.StatusFor(error);
            Assert.True(status is 0 or >= 500, $"{error} answers {status}");
        }
    }

    [Theory]
    [InlineData(nameof(ForwarderError.NoToken), "no_token", true)]
    [InlineData(nameof(ForwarderError.UpstreamUnreachable), "upstream_unreachable", false)]
    [InlineData(nameof(ForwarderError.UpstreamTimeout), "upstream_timeout", false)]
    [InlineData(nameof(ForwarderError.InboundUnauthorized), "unauthorized", false)]
    [InlineData(nameof(ForwarderError.SourceNotAllowed), "forbidden_source", false)]
    [InlineData(nameof(ForwarderError.RequestBodyTooLarge), "request_body_too_large", false)]
    [InlineData(nameof(ForwarderError.NoRoute), "no_route", false)]
    [InlineData(nameof(ForwarderError.ConcurrencyLimitReached), "concurrency_limit", true)]
    [InlineData(nameof(ForwarderError.ClientCertificateRejected), "client_certificate_required", false)]
    public async Task Report_WritesSmallJsonWithAContentType(string error, string code, bool retryAfter)
    {
        var responder = new ErrorResponder(NullLogger.Instance, TimeProvider.System);
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;

        await responder.ReportAsync(context, Enum.Parse<ForwarderError>(error), new HttpRequestException("boom"));

        Assert.Equal("application/json", context.Response.ContentType);
        Assert.Equal(retryAfter, context.Response.Headers.RetryAfter.Count == 1);
        using var json = JsonDocument.Parse(body.ToArray());
        Assert.Equal(code, json.RootElement.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("message").GetString()));
        Assert.Equal(body.Length, context.Response.ContentLength);
    }

    [Fact]
    public async Task InboundUnauthorized_AsksForABearerToken()
    {
        var responder = new ErrorResponder(NullLogger.Instance, TimeProvider.System);
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();

        await responder.ReportAsync(context, ForwarderError.InboundUnauthorized, null);

        Assert.Equal(401, context.Response.StatusCode);
        Assert.Equal("Bearer", context.Response.Headers.WWWAuthenticate.ToString());
    }

    [Fact]
    public async Task RequestBodyTooLarge_NamesMaxSamplesPerSend()
    {
        var responder = new ErrorResponder(NullLogger.Instance, TimeProvider.System);
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;

        await responder.ReportAsync(context, ForwarderError.RequestBodyTooLarge, null);

        using var json = JsonDocument.Parse(body.ToArray());
        Assert.Contains("max_samples_per_send", json.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrencyLimit_AsksForARetryAfterOneSecond()
    {
        var responder = new ErrorResponder(NullLogger.Instance, TimeProvider.System);
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();

        await responder.ReportAsync(context, ForwarderError.ConcurrencyLimitReached, null);

        Assert.Equal(503, context.Response.StatusCode);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
    }
}
