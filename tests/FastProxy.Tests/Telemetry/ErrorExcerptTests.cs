using System.Text;
using FastProxy.Telemetry;

namespace FastProxy.Tests.Telemetry;

public sealed class ErrorExcerptTests
{
    [Fact]
    public void KeepsFirstKibibyte_AcrossBlocks()
    {
        var excerpt = new ErrorExcerpt("Bearer tok");
        excerpt.Append(Encoding.UTF8.GetBytes(new string('a', 1000)));
        excerpt.Append(Encoding.UTF8.GetBytes(new string('b', 1000)));

        var text = excerpt.Text();

        Assert.StartsWith(new string('a', 1000) + new string('b', 24) + " …(truncated)", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("echo: Bearer abc.def-ghi", "echo: Bearer [redacted]")]
    [InlineData("raw held-token-123 here", "raw [token redacted] here")]
    [InlineData("jwt eyJhbGciOi.eyJzdWIiOi.sig", "jwt [jwt redacted]")]
    [InlineData("line\r\nbreak\u0000", "line  break ")]
    public void RedactsTokensAndControlCharacters(string body, string expected)
    {
        var excerpt = new ErrorExcerpt("Bearer held-token-123");
        excerpt.Append(Encoding.UTF8.GetBytes(body));

        Assert.Equal(expected, excerpt.Text());
    }
}
