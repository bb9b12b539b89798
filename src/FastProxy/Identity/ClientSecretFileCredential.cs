using System.Security.Cryptography;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging;

namespace FastProxy.Identity;

/// <summary>
/// An application identity with a client secret. From a variable the secret is fixed; from a file
/// (a mounted Kubernetes secret) it is read before each token fetch and a new Azure.Identity
/// ClientSecretCredential is built when it changed, so rotating the secret needs no restart.
/// </summary>
internal sealed class ClientSecretFileCredential : TokenCredential, IMaterialLogging, IDisposable
{
    private readonly SecretSource _secret;
    private readonly Func<string, TokenCredential> _build;
    private readonly SemaphoreSlim _gate = new(1, 1);

    // Guarded by _gate.
    private byte[]? _fingerprint;
    private TokenCredential? _current;

    public ClientSecretFileCredential(SecretSource secret, Func<string, TokenCredential> build)
    {
        _secret = secret;
        _build = build;
    }

    public ILogger? Logger { get; set; }

    /// <summary>How many times a credential was built from the secret.</summary>
    public int Loads { get; private set; }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var credential = await CurrentAsync(cancellationToken);
        return await credential.GetTokenAsync(requestContext, cancellationToken);
    }

    public void Dispose() => _gate.Dispose();

    private async Task<TokenCredential> CurrentAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_current is not null && _secret.FilePath is null)
            {
                return _current;
            }

            var secret = await _secret.ReadAsync(cancellationToken);
            var fingerprint = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret));
            if (_current is not null && fingerprint.AsSpan().SequenceEqual(_fingerprint))
            {
                return _current;
            }

            var reloaded = _current is not null;
            _current = _build(secret);
            _fingerprint = fingerprint;
            Loads++;
            if (reloaded && Logger is { } logger)
            {
                var source = _secret.ToString();
                Log.ClientSecretChanged(logger, source);
            }

            return _current;
        }
        finally
        {
            _gate.Release();
        }
    }
}
