using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace FastProxy.Demo;

/// <summary>
/// Answers like Azure's instance metadata service (IMDS) token endpoint, so the real
/// ManagedIdentityCredential fetches the demo's token exactly as it would in Azure.
/// </summary>
internal sealed class DemoTokenIssuer
{
    public string Token { get; } = "demo-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();

    public int TokensIssued => _issued;

    private int _issued;

    public async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path != "/metadata/identity/oauth2/token" || context.Request.Headers["Metadata"] != "true")
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        Interlocked.Increment(ref _issued);
        var resource = context.Request.Query["resource"].ToString();
        var expiresOn = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("access_token", Token);
        json.WriteString("expires_in", "3600");
        json.WriteString("expires_on", expiresOn.ToString(System.Globalization.CultureInfo.InvariantCulture));
        json.WriteString("resource", resource);
        json.WriteString("token_type", "Bearer");
        json.WriteEndObject();
    }
}
