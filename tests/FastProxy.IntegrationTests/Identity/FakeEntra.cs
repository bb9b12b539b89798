using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>How the fake Entra answers token requests from now on.</summary>
public enum EntraMode
{
    Succeed,

    /// <summary>500 with an AADSTS transient error.</summary>
    ServerError,

    /// <summary>429 with Retry-After.</summary>
    Throttled,

    /// <summary>401 invalid_client, as for a wrong secret or an unregistered certificate.</summary>
    InvalidClient,

    /// <summary>200 with a body that is not JSON.</summary>
    Garbage,
}

/// <summary>One token request as the fake Entra understood it.</summary>
internal sealed record EntraTokenRequest(
    string Path,
    IReadOnlyDictionary<string, string> Form,
    X509Certificate2? SigningCertificate,
    JsonElement? AssertionHeader,
    string? Problem,
    string? IssuedToken)
{
    public string? Field(string name) => Form.GetValueOrDefault(name);
}

/// <summary>
/// The Microsoft Entra v2.0 endpoints an Azure.Identity confidential client uses, over HTTPS on
/// loopback with a test CA: the token endpoint, the OpenID metadata document, and instance
/// discovery (recorded, so a test can prove it was not used). Every token request is checked
/// for the shape its flow must have, and a request that is wrong gets the 401 Entra would give,
/// with the reason recorded in <see cref="EntraTokenRequest.Problem"/>:
/// client_credentials grant, the v2 scope, the client id, and exactly one of a client secret, a
/// client assertion JWT signed by an accepted certificate (RS256/PS256, matched by its
/// <c>x5t#S256</c> header, audience = the token endpoint, issuer = subject = client id), or a
/// federated token accepted verbatim.
/// </summary>
internal sealed class FakeEntra : IAsyncDisposable
{
    public const string JwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(string Method, string Path)> _requests = new();
    private readonly ConcurrentQueue<EntraTokenRequest> _tokenRequests = new();
    private readonly ConcurrentDictionary<string, bool> _issued = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, X509Certificate2> _certificates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _federatedTokens = new(StringComparer.Ordinal);
    private readonly ChangeSignal _changed = new();
    private int _mode = (int)EntraMode.Succeed;

    private FakeEntra(WebApplication app, Uri authorityHost)
    {
        _app = app;
        AuthorityHost = authorityHost;
    }

    public string TenantId { get; } = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    public string ClientId { get; } = "5b7a3c1e-9d2f-4e8a-b6c4-0f1e2d3c4b5a";

    /// <summary>https://127.0.0.1:port/ — the value for AZURE_AUTHORITY_HOST.</summary>
    public Uri AuthorityHost { get; }

    public string TokenEndpoint => $"{AuthorityHost}{TenantId}/oauth2/v2.0/token";

    public EntraMode Mode
    {
        get => (EntraMode)Volatile.Read(ref _mode);
        set
        {
            Volatile.Write(ref _mode, (int)value);
            _changed.Notify();
        }
    }

    /// <summary>Lifetime of issued tokens. Under 5 minutes MSAL never answers from its cache, so each refresh reaches Entra.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The client secret accepted, if secrets are.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Whether an x5c header must be present (and match the signing certificate).</summary>
    public bool RequireX5c { get; set; }

    public IReadOnlyList<(string Method, string Path)> Requests => [.. _requests];

    public IReadOnlyList<EntraTokenRequest> TokenRequests => [.. _tokenRequests];

    public IReadOnlyCollection<string> IssuedTokens => [.. _issued.Keys];

    public string TokenPrefix { get; } = "fake-entra-access-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant();

    public bool HasIssued(string token) => _issued.ContainsKey(token);

    public void AcceptCertificate(X509Certificate2 certificate) =>
        _certificates[Base64Url.EncodeToString(SHA256.HashData(certificate.RawData))] = certificate;

    public void AcceptFederatedToken(string token) => _federatedTokens[token] = true;

    public static async Task<FakeEntra> StartAsync(TestCertificateAuthority authority)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, o => o.UseHttps(authority.ServerCertificate));
        });
        var app = builder.Build();
        FakeEntra? entra = null;
        app.Run(context => entra!.HandleAsync(context));
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        entra = new FakeEntra(app, new Uri($"https://127.0.0.1:{address.Port}/"));
        return entra;
    }

    public Task WaitForTokenRequestsAsync(Func<IReadOnlyList<EntraTokenRequest>, bool> condition, TimeSpan timeout, string what) =>
        _changed.WaitUntilAsync(() => condition(TokenRequests), timeout, what);

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        _requests.Enqueue((context.Request.Method, path));
        try
        {
            if (HttpMethods.IsPost(context.Request.Method) && path == $"/{TenantId}/oauth2/v2.0/token")
            {
                await TokenAsync(context, path);
            }
            else if (path == $"/{TenantId}/v2.0/.well-known/openid-configuration")
            {
                await WriteJsonAsync(context, 200, json =>
                {
                    json.WriteString("token_endpoint", TokenEndpoint);
                    json.WriteString("authorization_endpoint", $"{AuthorityHost}{TenantId}/oauth2/v2.0/authorize");
                    json.WriteString("issuer", $"{AuthorityHost}{TenantId}/v2.0");
                    json.WriteStartArray("token_endpoint_auth_methods_supported");
                    json.WriteStringValue("client_secret_post");
                    json.WriteStringValue("private_key_jwt");
                    json.WriteEndArray();
                });
            }
            else if (path == "/common/discovery/instance")
            {
                var host = AuthorityHost.Authority;
                await WriteJsonAsync(context, 200, json =>
                {
                    json.WriteString("tenant_discovery_endpoint", $"{AuthorityHost}{TenantId}/v2.0/.well-known/openid-configuration");
                    json.WriteString("api-version", "1.1");
                    json.WriteStartArray("metadata");
                    json.WriteStartObject();
                    json.WriteString("preferred_network", host);
                    json.WriteString("preferred_cache", host);
                    json.WriteStartArray("aliases");
                    json.WriteStringValue(host);
                    json.WriteEndArray();
                    json.WriteEndObject();
                    json.WriteEndArray();
                });
            }
            else
            {
                await WriteErrorAsync(context, 404, "invalid_request", "AADSTS900561: no such endpoint on the fake");
            }
        }
        finally
        {
            _changed.Notify();
        }
    }

    private async Task TokenAsync(HttpContext context, string path)
    {
        var form = (await context.Request.ReadFormAsync(context.RequestAborted)).ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal);
        var (problem, certificate, header) = Validate(form);
        var mode = Mode;
        var token = problem is null && mode == EntraMode.Succeed
            ? $"{TokenPrefix}-{_issued.Count + 1}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()}"
            : null;
        _tokenRequests.Enqueue(new EntraTokenRequest(path, form, certificate, header, problem, token));
        if (problem is not null)
        {
            await WriteErrorAsync(context, 401, "invalid_client", "AADSTS700027: " + problem);
            return;
        }

        switch (mode)
        {
            case EntraMode.ServerError:
                await WriteErrorAsync(context, 500, "temporarily_unavailable", "AADSTS90033: A transient error has occurred. Please try again.");
                return;
            case EntraMode.Throttled:
                context.Response.Headers.RetryAfter = "1";
                await WriteErrorAsync(context, 429, "temporarily_unavailable", "AADSTS90055: The server is temporarily unable to service your request.");
                return;
            case EntraMode.InvalidClient:
                await WriteErrorAsync(context, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.");
                return;
            case EntraMode.Garbage:
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("<html>not a token response", context.RequestAborted);
                return;
        }

        _issued[token!] = true;
        var seconds = (long)TokenLifetime.TotalSeconds;
        await WriteJsonAsync(context, 200, json =>
        {
            json.WriteString("token_type", "Bearer");
            json.WriteNumber("expires_in", seconds);
            json.WriteNumber("ext_expires_in", seconds);
            json.WriteString("access_token", token);
        });
    }

    private (string? Problem, X509Certificate2? Certificate, JsonElement? Header) Validate(Dictionary<string, string> form)
    {
        if (form.GetValueOrDefault("grant_type") != "client_credentials")
        {
            return ($"grant_type must be client_credentials, was '{form.GetValueOrDefault("grant_type")}'", null, null);
        }

        if (form.GetValueOrDefault("client_id") != ClientId)
        {
            return ($"client_id must be {ClientId}, was '{form.GetValueOrDefault("client_id")}'", null, null);
        }

        var scope = form.GetValueOrDefault("scope") ?? "";
        if (!scope.Split(' ').Any(s => s.EndsWith("/.default", StringComparison.Ordinal)) || form.ContainsKey("resource"))
        {
            return ($"a v2 request carries scope=<resource>/.default and no resource; scope was '{scope}'", null, null);
        }

        var hasSecret = form.ContainsKey("client_secret");
        var hasAssertion = form.ContainsKey("client_assertion");
        if (hasSecret == hasAssertion)
        {
            return ("exactly one of client_secret and client_assertion is required", null, null);
        }

        if (hasSecret)
        {
            return ClientSecret is not null && form["client_secret"] == ClientSecret ? (null, null, null) : ("client secret not accepted", null, null);
        }

        if (form.GetValueOrDefault("client_assertion_type") != JwtBearer)
        {
            return ($"client_assertion_type must be {JwtBearer}", null, null);
        }

        var assertion = form["client_assertion"];
        if (_federatedTokens.ContainsKey(assertion))
        {
            return (null, null, null);
        }

        return ValidateSignedAssertion(assertion);
    }

    private (string? Problem, X509Certificate2? Certificate, JsonElement? Header) ValidateSignedAssertion(string assertion)
    {
        var parts = assertion.Split('.');
        if (parts.Length != 3)
        {
            return ("client_assertion is neither an accepted federated token nor a signed JWT", null, null);
        }

        JsonElement header, payload;
        try
        {
            header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0])).RootElement.Clone();
            payload = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1])).RootElement.Clone();
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            return ("client_assertion is not a JWT: " + ex.GetType().Name, null, null);
        }

        if (!header.TryGetProperty("x5t#S256", out var thumbprint) || !_certificates.TryGetValue(thumbprint.GetString()!, out var certificate))
        {
            return ("the assertion's x5t#S256 header names no registered certificate", null, header);
        }

        var alg = header.TryGetProperty("alg", out var algElement) ? algElement.GetString() : null;
        if (alg is not ("PS256" or "RS256"))
        {
            return ($"alg must be PS256 or RS256, was {alg}", certificate, header);
        }

        using var rsa = certificate.GetRSAPublicKey()!;
        var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        var padding = alg == "PS256" ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        if (!rsa.VerifyData(signed, Base64Url.DecodeFromChars(parts[2]), HashAlgorithmName.SHA256, padding))
        {
            return ("the assertion's signature does not verify with the certificate's public key", certificate, header);
        }

        if (header.TryGetProperty("x5c", out var x5c))
        {
            var first = x5c.ValueKind == JsonValueKind.Array ? x5c[0].GetString() : x5c.GetString();
            if (first != Convert.ToBase64String(certificate.RawData))
            {
                return ("x5c does not hold the signing certificate", certificate, header);
            }
        }
        else if (RequireX5c)
        {
            return ("x5c header required (subject name / issuer authentication)", certificate, header);
        }

        var aud = payload.GetProperty("aud").GetString();
        if (aud != TokenEndpoint)
        {
            return ($"aud must be the token endpoint {TokenEndpoint}, was {aud}", certificate, header);
        }

        if (payload.GetProperty("iss").GetString() != ClientId || payload.GetProperty("sub").GetString() != ClientId)
        {
            return ("iss and sub must be the client id", certificate, header);
        }

        var expires = payload.GetProperty("exp");
        var exp = expires.ValueKind == JsonValueKind.String ? long.Parse(expires.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : expires.GetInt64();
        if (DateTimeOffset.FromUnixTimeSeconds(exp) < DateTimeOffset.UtcNow)
        {
            return ("the assertion has expired", certificate, header);
        }

        return (null, certificate, header);
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string error, string description) =>
        await WriteJsonAsync(context, status, json =>
        {
            json.WriteString("error", error);
            json.WriteString("error_description", description + " Trace ID: 00000000-0000-0000-0000-000000000000");
            json.WriteStartArray("error_codes");
            json.WriteNumberValue(int.Parse(description.AsSpan(6, description.IndexOf(':', StringComparison.Ordinal) - 6), System.Globalization.CultureInfo.InvariantCulture));
            json.WriteEndArray();
        });

    private static async Task WriteJsonAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
