using FastProxy.Forwarding;
using Microsoft.Extensions.Primitives;

namespace FastProxy.Tests.Forwarding;

public sealed class HeaderRulesTests
{
    [Theory]
    [InlineData("Connection")]
    [InlineData("keep-alive")]
    [InlineData("TE")]
    [InlineData("Trailer")]
    [InlineData("Transfer-Encoding")]
    [InlineData("Upgrade")]
    [InlineData("Proxy-Authorization")]
    [InlineData("Proxy-Connection")]
    [InlineData("Host")]
    [InlineData("authorization")]
    [InlineData("Content-Length")]
    [InlineData("content-length")]
    [InlineData(":authority")]
    public void RequestHeader_NotCopied(string name) => Assert.Equal(RequestHeaderRule.Skip, HeaderRules.RuleForRequestHeader(name));

    [Theory]
    [InlineData("User-Agent", nameof(RequestHeaderRule.Copy))]
    [InlineData("Content-Encoding", nameof(RequestHeaderRule.CopyToContent))]
    [InlineData("content-type", nameof(RequestHeaderRule.CopyToContent))]
    [InlineData("X-Prometheus-Remote-Write-Version", nameof(RequestHeaderRule.Copy))]
    [InlineData("traceparent", nameof(RequestHeaderRule.Copy))]
    [InlineData("Accept", nameof(RequestHeaderRule.Copy))]
    [InlineData("x-forwarded-for", nameof(RequestHeaderRule.ForwardedFor))]
    public void EndToEndRequestHeader_IsCopiedWhereItBelongs(string name, string rule) =>
        Assert.Equal(rule, HeaderRules.RuleForRequestHeader(name).ToString());

    [Theory]
    [InlineData("Transfer-Encoding", true)]
    [InlineData("Connection", true)]
    [InlineData("Keep-Alive", true)]
    [InlineData("Content-Length", false)]
    [InlineData("Retry-After", false)]
    [InlineData("X-Prometheus-Remote-Write-Samples-Written", false)]
    public void ResponseHeader_SkippedOnlyWhenHopByHop(string name, bool skipped) =>
        Assert.Equal(skipped, HeaderRules.ShouldSkipResponseHeader(name));

    [Theory]
    [InlineData("close, X-Secret-Hop", "x-secret-hop", true)]
    [InlineData("keep-alive,x-a ,  X-B", "X-B", true)]
    [InlineData("close", "X-Secret-Hop", false)]
    [InlineData("", "X-A", false)]
    public void HeaderNamedByConnection_IsDetected(string connection, string name, bool expected) =>
        Assert.Equal(expected, HeaderRules.IsNamedByConnection(new StringValues(connection), name));

    [Theory]
    [InlineData("x-ms-client", true)]
    [InlineData("X_Underscore", true)]
    [InlineData("bad name", false)]
    [InlineData("bad:name", false)]
    [InlineData("", false)]
    public void HeaderName_Validation(string name, bool valid) => Assert.Equal(valid, HeaderRules.IsValidHeaderName(name));

    [Theory]
    [InlineData("Content-Type", true)]
    [InlineData("content-encoding", true)]
    [InlineData("Expires", true)]
    [InlineData("X-Prometheus-Remote-Write-Version", false)]
    [InlineData("User-Agent", false)]
    public void ContentHeaders_AreRecognised(string name, bool expected) => Assert.Equal(expected, HeaderRules.IsContentHeader(name));
}
