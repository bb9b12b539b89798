using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.EndToEndTests;

/// <summary>How the flapping identity endpoint answers while it is up.</summary>
internal enum ImdsAnswer
{
    Token,
    ServerError,
    TooManyRequests,
}

/// <summary>
/// An Azure instance-metadata token endpoint (reached through AZURE_POD_IDENTITY_AUTHORITY_HOST)
/// that can be taken down entirely and brought back on the same port, or made to answer 500 or 429.
/// Every token it issues is short-lived and remembered with its exact expiry, so the receiver can
/// accept only tokens that are valid when a request arrives (give or take <see cref="ClockSkew"/>).
/// </summary>
internal sealed class FlappingImds : IAsyncDisposable
{
    private const string TokenPath = "/metadata/identity/oauth2/token";

    /// <summary>
    /// How long after its expiry a token is still accepted on arrival. Azure's token validation
    /// allows minutes of clock skew; this receiver allows 2 s, a fifth of the test's 10 s tokens.
    /// FastProxy stops using a token 0.5 s before expiry (a twentieth of its lifetime), and with no
    /// allowance a request that spent longer than that in transit failed the accounting: once in
    /// about two dozen runs, 0.4 s after a receiver restart that fell at the end of a token's life
    /// (a new connection, over HTTPS a new TLS handshake). A token still used seconds after its
    /// expiry (a refresh that never happened) is refused as before.
    /// </summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _issued = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ImdsAnswer, int> _answered = new();
    private readonly ChangeSignal _changed = new();
    private readonly string _prefix = "e2e-entra-token-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
    private RestartableHost _host = null!;
    private int _answer = (int)ImdsAnswer.Token;

    private FlappingImds(TimeSpan tokenLifetime) => TokenLifetime = tokenLifetime;

    public TimeSpan TokenLifetime { get; }

    public string BaseUrl => _host.BaseUrl;

    public RestartableHost Host => _host;

    public ImdsAnswer Answer
    {
        get => (ImdsAnswer)Volatile.Read(ref _answer);
        set => Volatile.Write(ref _answer, (int)value);
    }

    public int IssuedCount => _issued.Count;

    public int Answered(ImdsAnswer answer) => _answered.GetValueOrDefault(answer);

    public static async Task<FlappingImds> StartAsync(TimeSpan tokenLifetime)
    {
        var imds = new FlappingImds(tokenLifetime);
        imds._host = await RestartableHost.StartAsync(imds.HandleAsync);
        return imds;
    }

    /// <summary>Why <paramref name="token"/> is not valid at <paramref name="now"/>, or null when it is.</summary>
    public string? Invalidity(string token, DateTimeOffset now)
    {
        if (!_issued.TryGetValue(token, out var expires))
        {
            return "a token this endpoint never issued";
        }

        return now < expires + ClockSkew ? null : $"a token that expired {(now - expires).TotalMilliseconds:0} ms before the request arrived";
    }

    public Task WaitForAnswersAsync(ImdsAnswer answer, int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => Answered(answer) >= count, timeout, $"{count} {answer} answer(s) from the identity endpoint (got {Answered(answer)})");

    public Task WaitForIssuedAsync(int count, TimeSpan timeout) =>
        _changed.WaitUntilAsync(() => _issued.Count >= count, timeout, $"{count} token(s) issued (issued {_issued.Count})");

    private async Task HandleAsync(HttpContext context)
    {
        var answer = Answer;
        try
        {
            if (context.Request.Path != TokenPath || context.Request.Headers["Metadata"] != "true" || context.Request.Query["resource"].ToString().Length == 0)
            {
                // Not how Azure.Identity asks; answered so the credential fails loudly.
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            switch (answer)
            {
                case ImdsAnswer.ServerError:
                    await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "the identity endpoint is failing on purpose");
                    return;
                case ImdsAnswer.TooManyRequests:
                    await WriteErrorAsync(context, StatusCodes.Status429TooManyRequests, "the identity endpoint is throttling on purpose");
                    return;
            }

            // Whole seconds, as IMDS sends them, so every reader of the answer agrees on the expiry.
            var now = DateTimeOffset.UtcNow;
            var expiresOn = DateTimeOffset.FromUnixTimeSeconds((now + TokenLifetime).ToUnixTimeSeconds());
            var seconds = (long)(expiresOn - now).TotalSeconds;
            var token = $"{_prefix}-{_issued.Count + 1}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()}";
            // Known before it is sent, so it is valid by the time anyone can present it.
            _issued[token] = expiresOn;
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
            {
                json.WriteStartObject();
                json.WriteString("access_token", token);
                json.WriteString("client_id", "00000000-0000-0000-0000-00000000beef");
                json.WriteString("expires_in", seconds.ToString(CultureInfo.InvariantCulture));
                json.WriteString("expires_on", expiresOn.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
                json.WriteString("ext_expires_in", seconds.ToString(CultureInfo.InvariantCulture));
                json.WriteString("not_before", now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
                json.WriteString("resource", context.Request.Query["resource"].ToString());
                json.WriteString("token_type", "Bearer");
                json.WriteEndObject();
            }

            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
        }
        finally
        {
            _answered.AddOrUpdate(answer, 1, (_, n) => n + 1);
            _changed.Notify();
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string description)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteString("error", status == StatusCodes.Status429TooManyRequests ? "too_many_requests" : "server_error");
        json.WriteString("error_description", description);
        json.WriteEndObject();
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
