using System.Net;
using System.Text.Json;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>Checks shared by the fault tests.</summary>
internal static class FaultAssert
{
    /// <summary>FastProxy's own error: the status, JSON with the error code and a message.</summary>
    public static async Task OwnErrorAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == status, $"expected {(int)status} {error}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(text);
        Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
        Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("message").GetString()));
    }

    /// <summary>/health answers 200: the process is alive and serving after the fault.</summary>
    public static async Task HealthyAsync(HttpClient client)
    {
        using var health = await client.GetAsync(new Uri("/health", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}
