using System.Net;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Forwarding;

/// <summary>Answers of the target that would make Prometheus drop a batch become 503 on real sockets.</summary>
public sealed class DataSafetyTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> PostAsync(FakeUpstream upstream, int status, params (string Name, string Value)[] settings)
    {
        upstream.Status = status;
        upstream.ResponseHeaders["Retry-After"] = "7";
        upstream.ResponseBody = "{\"error\":\"from target\"}"u8.ToArray();
        var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl, settings);
        upstream.AcceptToken(proxy.Token);
        using var client = TestHttp.CreateClient(proxy.Address);
        var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(new byte[100]), Cancel);
        await response.Content.LoadIntoBufferAsync(Cancel);
        await proxy.DisposeAsync();
        return response;
    }

    [Theory]
    [InlineData(StatusCodes.Status429TooManyRequests)]
    [InlineData(StatusCodes.Status401Unauthorized)]
    [InlineData(StatusCodes.Status403Forbidden)]
    public async Task RetryableRefusal_Becomes503KeepingRetryAfterAndBody(int status)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.RequireToken = false;

        using var response = await PostAsync(upstream, status);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("7", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("{\"error\":\"from target\"}", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Theory]
    [InlineData(StatusCodes.Status429TooManyRequests, "UPSTREAM_429_AS_503", "false")]
    [InlineData(StatusCodes.Status403Forbidden, "UPSTREAM_AUTH_ERRORS_AS_503_SECONDS", "0")]
    public async Task TranslationTurnedOff_RelaysTheStatusUnchanged(int status, string setting, string value)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.RequireToken = false;

        using var response = await PostAsync(upstream, status, (setting, value));

        Assert.Equal(status, (int)response.StatusCode);
    }

    [Fact]
    public async Task OtherClientErrors_AreRelayedUnchanged()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.RequireToken = false;

        using var response = await PostAsync(upstream, StatusCodes.Status400BadRequest);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
