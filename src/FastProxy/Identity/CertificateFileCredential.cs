using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Azure.Core;
using FastProxy.Configuration;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging;

namespace FastProxy.Identity;

/// <summary>
/// An application identity whose certificate is a file that may be replaced at any time (the CSI
/// secret-store driver rotates it in place). Before each token fetch (a few times an hour) the
/// file and its password are read and fingerprinted; when they changed, the certificate is loaded
/// and a new Azure.Identity ClientCertificateCredential is built around it. Requests never wait
/// for this: they use the token the refresher holds, which stays in use until the new certificate
/// has produced the next one.
/// </summary>
internal sealed class CertificateFileCredential : TokenCredential, IMaterialLogging, IDisposable
{
    private readonly string _path;
    private readonly SecretSource? _password;
    private readonly Func<X509Certificate2, TokenCredential> _build;
    private readonly TimeProvider _time;

    // Serialises reading and rebuilding (routes with different scopes may fetch at once); the
    // token fetch itself runs outside it.
    private readonly SemaphoreSlim _gate = new(1, 1);

    // Guarded by _gate for writes; read under it too.
    private byte[]? _fingerprint;
    private Loaded? _loaded;

    public CertificateFileCredential(string path, SecretSource? password, Func<X509Certificate2, TokenCredential> build, TimeProvider time)
    {
        _path = path;
        _password = password;
        _build = build;
        _time = time;
    }

    public ILogger? Logger { get; set; }

    /// <summary>How many times a certificate was loaded (1 after the first fetch; more after rotations).</summary>
    public int Loads { get; private set; }

    /// <summary>The certificate in use, for tests and diagnostics.</summary>
    public X509Certificate2? Certificate => _loaded?.Certificate;

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var loaded = await CurrentAsync(cancellationToken);
        // Checked on every fetch, not only at load: a certificate that was fine yesterday expires
        // while loaded, and the operator needs that said plainly rather than as Entra's AADSTS error.
        CertificateLoader.EnsureValidAt(loaded.Certificate, _time.GetUtcNow(), _path);
        return await loaded.Credential.GetTokenAsync(requestContext, cancellationToken);
    }

    private async Task<Loaded> CurrentAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var content = await CredentialFiles.ReadBytesAsync(_path, "AAD_CLIENT_CERTIFICATE_PATH", cancellationToken);
            var password = _password is null ? null : await _password.ReadAsync(cancellationToken);
            var fingerprint = Fingerprint(content, password);
            if (_loaded is not null && fingerprint.AsSpan().SequenceEqual(_fingerprint))
            {
                return _loaded;
            }

            // A file that does not load leaves the previous certificate in place for nothing: the
            // fetch fails with the reason, the refresher retries with backoff and keeps serving the
            // held token, and the next attempt reads the file again.
            var certificate = CertificateLoader.Load(content, password, _path);
            var reloaded = _loaded is not null;
            // The previous certificate is not disposed: another scope's fetch may still be signing
            // with it. Rotations are rare; the collector reclaims it.
            _loaded = new Loaded(certificate, _build(certificate));
            _fingerprint = fingerprint;
            Loads++;
            if (Logger is { } logger && logger.IsEnabled(LogLevel.Information))
            {
                var described = CertificateLoader.Describe(certificate);
                var notAfter = certificate.NotAfter.ToUniversalTime();
                if (reloaded)
                {
                    Log.CertificateReloaded(logger, _path, described, notAfter);
                }
                else
                {
                    Log.CertificateLoaded(logger, _path, described, notAfter);
                }
            }

            return _loaded;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private static byte[] Fingerprint(byte[] content, string? password)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(content);
        if (password is not null)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(password));
        }

        return hash.GetHashAndReset();
    }

    private sealed record Loaded(X509Certificate2 Certificate, TokenCredential Credential);
}
