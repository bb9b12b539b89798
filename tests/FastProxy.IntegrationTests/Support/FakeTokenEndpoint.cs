using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace FastProxy.IntegrationTests.Support;

/// <summary>How a fake identity endpoint answers the next requests; switchable at any time.</summary>
public enum TokenEndpointMode
{
    /// <summary>A fresh token each time.</summary>
    Succeed,

    /// <summary>500 with a JSON error (MSAL retries 5xx itself before giving up).</summary>
    ServerError,

    /// <summary>400 "Identity not found", as IMDS answers for an unassigned user-assigned identity.</summary>
    IdentityNotFound,

    /// <summary>200 with a body that is not JSON.</summary>
    Garbage,

    /// <summary>
    /// Waits <see cref="FakeTokenEndpoint.SlowDelay"/> (or until the caller gives up, or the mode
    /// changes), then succeeds.
    /// </summary>
    Slow,

    /// <summary>429 with Retry-After and a JSON error, as a throttled identity endpoint answers.</summary>
    Throttled,

    /// <summary>
    /// 200 with a real-looking access_token but an expiry that cannot be parsed: the credential
    /// fails while holding the token text, which must not end up in any log.
    /// </summary>
    MalformedExpiry,
}

/// <summary>One request that reached a fake identity endpoint.</summary>
internal sealed record TokenEndpointRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers, DateTimeOffset At)
{
    /// <summary>How the endpoint answered it.</summary>
    public TokenEndpointMode AnsweredAs { get; init; }

    /// <summary>When the answer was complete.</summary>
    public DateTimeOffset AnsweredAt { get; init; }

    public string? QueryValue(string name) => Query.GetValueOrDefault(name);

    public string? HeaderValue(string name) => Headers.GetValueOrDefault(name);
}

/// <summary>
/// The parts every fake managed-identity endpoint shares: a switchable <see cref="Mode"/>, a new
/// unique token per success with a chosen lifetime, and a record of every request so tests can
/// assert the request shape Azure.Identity/MSAL sent.
/// </summary>
internal abstract class FakeTokenEndpoint : IAsyncDisposable
{
    private readonly ConcurrentQueue<TokenEndpointRequest> _requests = new();
    private readonly ConcurrentQueue<string> _issued = new();
    private readonly ConcurrentQueue<string> _leakBait = new();
    private readonly ChangeSignal _changed = new();
    private readonly ConcurrentDictionary<string, (DateTimeOffset IssuedAt, DateTimeOffset ExpiresOn)> _lifetimes = new(StringComparer.Ordinal);
    private LoopbackHost _host = null!;
    private CancellationTokenSource _leaveSlow = new();
    private int _mode = (int)TokenEndpointMode.Succeed;
    private int _failures;
    private int _arrived;

    public TokenEndpointMode Mode
    {
        get => (TokenEndpointMode)Volatile.Read(ref _mode);
        set
        {
            Volatile.Write(ref _mode, (int)value);
            if (value != TokenEndpointMode.Slow)
            {
                // Requests held by Slow are answered now, with a token.
                Interlocked.Exchange(ref _leaveSlow, new CancellationTokenSource()).Cancel();
            }

            _changed.Notify();
        }
    }

    /// <summary>Lifetime of the tokens issued from now on.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Prefix of every issued token, so tests can search logs for it.</summary>
    public string TokenPrefix { get; } = "fake-entra-token-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();

    public string BaseUrl => _host.BaseUrl;

    public IReadOnlyList<TokenEndpointRequest> Requests => [.. _requests];

    public IReadOnlyList<string> IssuedTokens => [.. _issued];

    /// <summary>Token values sent in <see cref="TokenEndpointMode.MalformedExpiry"/> answers.</summary>
    public IReadOnlyList<string> LeakBait => [.. _leakBait];

    /// <summary>Answers that were not a token (errors, garbage).</summary>
    public int Failures => Volatile.Read(ref _failures);

    protected abstract string TokenPath { get; }

    protected async Task StartHostAsync() => _host = await LoopbackHost.StartAsync(HandleAsync);

    /// <summary>Goes down like a crashed endpoint: the port refuses connections until <see cref="RestartAsync"/>.</summary>
    public Task StopAsync() => _host.KillAsync();

    /// <summary>Comes back on the same port.</summary>
    public async Task RestartAsync() => _host = await LoopbackHost.StartAsync(HandleAsync, port: _host.Port, connections: _host.Connections);

    /// <summary>When <paramref name="token"/> was issued and when it expires, if this endpoint issued it.</summary>
    public (DateTimeOffset IssuedAt, DateTimeOffset ExpiresOn)? LifetimeOf(string token) =>
        _lifetimes.TryGetValue(token, out var lifetime) ? lifetime : null;

    public Task WaitForRequestsAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => _requests.Count >= count, timeout, $"{count} request(s) at the fake token endpoint (got {_requests.Count})");

    /// <summary>Waits until <paramref name="count"/> requests have arrived (answered or not).</summary>
    public Task WaitForArrivalsAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => Volatile.Read(ref _arrived) >= count, timeout, $"{count} request(s) arriving at the fake token endpoint (got {Volatile.Read(ref _arrived)})");

    public Task WaitForIssuedAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => _issued.Count >= count, timeout, $"{count} token(s) issued by the fake token endpoint (issued {_issued.Count})");

    public Task WaitForFailuresAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => Failures >= count, timeout, $"{count} failed answer(s) from the fake token endpoint (got {Failures})");

    /// <summary>Checks the request has the shape this endpoint kind requires; returns a problem or null.</summary>
    protected abstract string? Validate(HttpContext context);

    protected abstract void WriteToken(Utf8JsonWriter json, string token, string resource, string? clientId, TimeSpan lifetime, DateTimeOffset expiresOn);

    protected static string UnixSeconds(DateTimeOffset instant) =>
        instant.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    private async Task HandleAsync(HttpContext context)
    {
        var request = new TokenEndpointRequest(
            context.Request.Method,
            context.Request.Path.Value ?? "",
            context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal),
            context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            DateTimeOffset.UtcNow);
        var mode = Mode;
        Interlocked.Increment(ref _arrived);
        _changed.Notify();
        try
        {
            await AnswerAsync(context, mode);
        }
        finally
        {
            // Recorded after answering, so a test that saw the n-th request also sees its outcome.
            _requests.Enqueue(request with { AnsweredAs = mode, AnsweredAt = DateTimeOffset.UtcNow });
            _changed.Notify();
        }
    }

    private async Task AnswerAsync(HttpContext context, TokenEndpointMode mode)
    {
        if (context.Request.Path != TokenPath)
        {
            await FailAsync(context, StatusCodes.Status404NotFound, "not_found", "no such path");
            return;
        }

        if (Validate(context) is { } problem)
        {
            await FailAsync(context, StatusCodes.Status400BadRequest, "invalid_request", problem);
            return;
        }

        switch (mode)
        {
            case TokenEndpointMode.ServerError:
                await FailAsync(context, StatusCodes.Status500InternalServerError, "server_error", "the fake identity endpoint is failing on purpose");
                return;
            case TokenEndpointMode.IdentityNotFound:
                await FailAsync(context, StatusCodes.Status400BadRequest, "invalid_request", "Identity not found");
                return;
            case TokenEndpointMode.Garbage:
                Interlocked.Increment(ref _failures);
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("<html>this is not a token response", context.RequestAborted);
                return;
            case TokenEndpointMode.MalformedExpiry:
                Interlocked.Increment(ref _failures);
                var bait = $"{TokenPrefix}-bait-{Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()}";
                _leakBait.Enqueue(bait);
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/json";
                await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
                {
                    json.WriteStartObject();
                    json.WriteString("access_token", bait);
                    json.WriteString("expires_in", "soon");
                    json.WriteString("expires_on", "not-a-time");
                    json.WriteString("resource", context.Request.Query["resource"].ToString());
                    json.WriteString("token_type", "Bearer");
                    json.WriteEndObject();
                }

                return;
            case TokenEndpointMode.Throttled:
                context.Response.Headers.RetryAfter = "1";
                await FailAsync(context, StatusCodes.Status429TooManyRequests, "too_many_requests", "the fake identity endpoint is throttling on purpose");
                return;
            case TokenEndpointMode.Slow:
                using (var wait = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, Volatile.Read(ref _leaveSlow).Token))
                {
                    try
                    {
                        if (Mode == TokenEndpointMode.Slow)
                        {
                            await Task.Delay(SlowDelay, wait.Token);
                        }
                    }
                    catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref _failures);
                        return;
                    }
                    catch (OperationCanceledException)
                    {
                        // The mode changed: the held request is answered with a token after all.
                    }
                }

                break;
        }

        var resource = context.Request.Query["resource"].ToString();
        var clientId = context.Request.Query["client_id"].ToString();
        var lifetime = TokenLifetime;
        var token = $"{TokenPrefix}-{_issued.Count + 1}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()}";
        // Recorded before it is sent, so the token is known by the time anyone can present it.
        _lifetimes[token] = (DateTimeOffset.UtcNow, DateTimeOffset.UtcNow + lifetime);
        _issued.Enqueue(token);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            WriteToken(json, token, resource, clientId.Length == 0 ? null : clientId, lifetime, DateTimeOffset.UtcNow + lifetime);
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    public bool HasIssued(string token) => _issued.Contains(token);

    private async Task FailAsync(HttpContext context, int status, string error, string description)
    {
        Interlocked.Increment(ref _failures);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteString("error", error);
        json.WriteString("error_description", description);
        json.WriteEndObject();
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}

/// <summary>
/// Azure's instance metadata service token endpoint (VMs, VM scale sets, AKS nodes), reached by
/// Azure.Identity through AZURE_POD_IDENTITY_AUTHORITY_HOST.
/// </summary>
internal sealed class FakeImds : FakeTokenEndpoint
{
    private FakeImds()
    {
    }

    public static async Task<FakeImds> StartAsync()
    {
        var imds = new FakeImds();
        await imds.StartHostAsync();
        return imds;
    }

    protected override string TokenPath => "/metadata/identity/oauth2/token";

    protected override string? Validate(HttpContext context)
    {
        if (context.Request.Headers["Metadata"] != "true")
        {
            return "Required metadata header not specified";
        }

        return context.Request.Query["resource"].ToString().Length == 0 ? "Required query variable 'resource' is missing" : null;
    }

    protected override void WriteToken(Utf8JsonWriter json, string token, string resource, string? clientId, TimeSpan lifetime, DateTimeOffset expiresOn)
    {
        // IMDS sends every number as a string.
        var seconds = ((long)lifetime.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        json.WriteString("access_token", token);
        json.WriteString("client_id", clientId ?? "00000000-0000-0000-0000-00000000beef");
        json.WriteString("expires_in", seconds);
        json.WriteString("expires_on", UnixSeconds(expiresOn));
        json.WriteString("ext_expires_in", seconds);
        json.WriteString("not_before", UnixSeconds(DateTimeOffset.UtcNow));
        json.WriteString("resource", resource);
        json.WriteString("token_type", "Bearer");
    }
}

/// <summary>
/// The App Service / Container Apps identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER,
/// api-version 2019-08-01).
/// </summary>
internal sealed class FakeAppServiceIdentity : FakeTokenEndpoint
{
    private FakeAppServiceIdentity()
    {
    }

    /// <summary>The IDENTITY_HEADER secret the endpoint requires in X-IDENTITY-HEADER.</summary>
    public string Secret { get; } = "identity-header-secret-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();

    /// <summary>The IDENTITY_ENDPOINT value.</summary>
    public string Endpoint => BaseUrl + TokenPath;

    public static async Task<FakeAppServiceIdentity> StartAsync()
    {
        var endpoint = new FakeAppServiceIdentity();
        await endpoint.StartHostAsync();
        return endpoint;
    }

    protected override string TokenPath => "/msi/token";

    protected override string? Validate(HttpContext context)
    {
        if (context.Request.Headers["X-IDENTITY-HEADER"] != Secret)
        {
            return "X-IDENTITY-HEADER missing or wrong";
        }

        if (context.Request.Query["api-version"] != "2019-08-01")
        {
            return "api-version must be 2019-08-01";
        }

        return context.Request.Query["resource"].ToString().Length == 0 ? "resource is missing" : null;
    }

    protected override void WriteToken(Utf8JsonWriter json, string token, string resource, string? clientId, TimeSpan lifetime, DateTimeOffset expiresOn)
    {
        json.WriteString("access_token", token);
        json.WriteString("expires_on", UnixSeconds(expiresOn));
        json.WriteString("resource", resource);
        json.WriteString("token_type", "Bearer");
        json.WriteString("client_id", clientId ?? "00000000-0000-0000-0000-00000000beef");
    }
}
