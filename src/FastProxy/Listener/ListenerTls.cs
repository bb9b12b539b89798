using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Telemetry;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace FastProxy.Listener;

/// <summary>
/// The listener's certificate and, with mTLS, the CAs client certificates must chain to. Kestrel
/// asks <see cref="OnConnectionAsync"/> for the TLS options of every new connection; the answer
/// comes from one immutable snapshot, swapped when the files change. As with
/// <see cref="InboundToken"/>, the files' last-write times and sizes are compared at most once per
/// second, by whichever handshake finds the check due, so cert-manager or CSI rotations are
/// followed without a restart and without a stat per handshake. A replacement that does not load
/// (half written, key of another certificate) keeps the snapshot in use and is reported once.
/// </summary>
internal sealed class ListenerTls
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RefusalLogInterval = TimeSpan.FromSeconds(10);

    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>Larger than any certificate bundle; a bigger file is a wrong path.</summary>
    private const long MaxFileLength = 1024 * 1024;

    // HTTP/2 first: clients that offer both get h2, one connection for many requests.
    private static readonly List<SslApplicationProtocol> Protocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    private readonly TlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ProxyMetrics? _metrics;
    private readonly Lock _reload = new();
    private volatile Material _material;
    private long _nextCheck;

    // Guarded by _reload: the stamps of the files last tried, good or bad, so a bad file is
    // reported once rather than every second.
    private FileStamp[] _lastSeen;

    private readonly LogThrottle _refusalLogThrottle;

    /// <summary>What one handshake needs; never changed, only replaced.</summary>
    internal sealed class Material(SslStreamCertificateContext context, X509Certificate2 leaf, X509Certificate2Collection? clientCas) : IDisposable
    {
        public SslStreamCertificateContext Context { get; } = context;
        public X509Certificate2 Leaf { get; } = leaf;
        public X509Certificate2Collection? ClientCas { get; } = clientCas;

        public void Dispose()
        {
            Leaf.Dispose();
            foreach (var ca in ClientCas ?? [])
            {
                ca.Dispose();
            }
        }
    }

    private readonly record struct FileStamp(DateTime LastWrite, long Length);

    private ListenerTls(TlsOptions options, TimeProvider time, ILogger logger, ProxyMetrics? metrics, Material material, FileStamp[] stamps)
    {
        _options = options;
        _time = time;
        _refusalLogThrottle = new LogThrottle(time, RefusalLogInterval);
        _logger = logger;
        _metrics = metrics;
        _material = material;
        _lastSeen = stamps;
        _nextCheck = time.GetTimestamp() + (long)(CheckInterval.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Loads the files once; start-up has already validated them (<see cref="TlsOptions.Read"/>).</summary>
    public static ListenerTls Create(TlsOptions options, TimeProvider time, ILogger logger, ProxyMetrics? metrics)
    {
        // Stamps before content: a write landing between the two is seen as a change next time.
        var stamps = Stamps(options);
        var material = LoadMaterial(options);
        LogLoaded(logger, options, material);
        return new ListenerTls(options, time, logger, metrics, material, stamps);
    }

    /// <summary>The certificate the next handshake presents (tests and diagnostics).</summary>
    public X509Certificate2 Certificate => _material.Leaf;

    public TlsHandshakeCallbackOptions HandshakeOptions => new() { OnConnection = OnConnectionAsync };

    private ValueTask<SslServerAuthenticationOptions> OnConnectionAsync(TlsHandshakeCallbackContext context)
    {
        var material = Current();
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = material.Context,
            ApplicationProtocols = Protocols,
            // Neither side's revocation is checked: a private CA rarely publishes a reachable CRL
            // or OCSP responder, and a check would stall handshakes on the network.
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
        };
        if (material.ClientCas is { } cas)
        {
            options.ClientCertificateRequired = true;
            options.RemoteCertificateValidationCallback = (_, certificate, chain, _) => IsTrustedClient(cas, certificate, chain);
        }

        return ValueTask.FromResult(options);
    }

    private Material Current()
    {
        var now = _time.GetTimestamp();
        var next = Interlocked.Read(ref _nextCheck);
        if (now >= next && Interlocked.CompareExchange(ref _nextCheck, now + (long)(CheckInterval.TotalSeconds * _time.TimestampFrequency), next) == next)
        {
            // One handshake per second pays for the stats; the rest use the snapshot.
            RefreshIfChanged();
        }

        return _material;
    }

    private void RefreshIfChanged()
    {
        lock (_reload)
        {
            var stamps = Stamps(_options);
            if (stamps.AsSpan().SequenceEqual(_lastSeen))
            {
                return;
            }

            _lastSeen = stamps;
            try
            {
                var material = LoadMaterial(_options);
                // The old snapshot is not disposed: a handshake may still be using it. Rotations
                // are rare; the collector reclaims it.
                _material = material;
                LogLoaded(_logger, _options, material);
            }
            catch (TlsMaterialException ex)
            {
                var setting = ex.Setting.EnvironmentVariables[0];
                var inUse = Describe(_material.Leaf);
                Log.ListenerTlsReloadFailed(_logger, setting, ex.Message, inUse);
            }
        }
    }

    private static void LogLoaded(ILogger logger, TlsOptions options, Material material)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var certificate = Describe(material.Leaf);
            var notAfter = material.Leaf.NotAfter.ToUniversalTime();
            Log.ListenerCertificateLoaded(logger, certificate, options.CertificateFile, notAfter, material.ClientCas?.Count ?? 0);
        }
    }

    /// <summary>
    /// A client certificate is accepted when it chains to one of TLS_CLIENT_CA_FILE's CAs (and to
    /// nothing else: no system roots), is valid now and, when it names its uses, includes client
    /// authentication. The intermediates the client sent are used to build the chain.
    /// </summary>
    private bool IsTrustedClient(X509Certificate2Collection cas, X509Certificate? certificate, X509Chain? presented)
    {
        if (certificate is null)
        {
            RefuseClient("the client sent no certificate");
            return false;
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthentication));
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        if (chain.Build(leaf))
        {
            return true;
        }

        var reasons = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
        RefuseClient($"client certificate '{leaf.Subject}' does not chain to a CA of TLS_CLIENT_CA_FILE or is not valid for client authentication now ({reasons})");
        return false;
    }

    private void RefuseClient(string reason)
    {
        _metrics?.Failed(ForwarderError.ClientCertificateRejected);
        // A misconfigured client retries constantly: one line per interval with a count.
        if (_refusalLogThrottle.ShouldLog(out var suppressed))
        {
            Log.ClientCertificateRefused(_logger, reason, suppressed);
        }
    }

    private static FileStamp[] Stamps(TlsOptions options)
    {
        string?[] paths = [options.CertificateFile, options.KeyFile, options.PasswordFile, options.ClientCaFile];
        var stamps = new FileStamp[paths.Length];
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i] is { } path)
            {
                try
                {
                    // FileInfo follows symbolic links, so a Secret volume's swapped ..data link shows as a change.
                    var info = new FileInfo(path);
                    stamps[i] = info.Exists ? new FileStamp(info.LastWriteTimeUtc, info.Length) : new FileStamp(DateTime.MinValue, -1);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    stamps[i] = new FileStamp(DateTime.MinValue, -2);
                }
            }
        }

        return stamps;
    }

    /// <summary>Reads every file of <paramref name="options"/>; throws <see cref="TlsMaterialException"/> naming the setting at fault.</summary>
    public static Material LoadMaterial(TlsOptions options)
    {
        var password = options.PasswordFile is { } passwordFile ? ReadText(passwordFile, Settings.TlsKeyPasswordFile).TrimEnd('\r', '\n') : null;
        var content = ReadBytes(options.CertificateFile, Settings.TlsCertFile);
        var (leaf, intermediates) = content.AsSpan().IndexOf("-----BEGIN "u8) >= 0
            ? LoadPem(options, Encoding.ASCII.GetString(content), password)
            : LoadPfx(options, content, password);
        try
        {
            EnsureServerCertificate(leaf, options.CertificateFile);
            var clientCas = options.ClientCaFile is { } caFile ? LoadCas(caFile) : null;
            // offline: intermediates come from the file only; nothing is fetched over the network.
            // The CA list is sent in the handshake so a client holding several certificates picks
            // one these CAs issued.
            var trust = clientCas is null ? null : SslCertificateTrust.CreateForX509Collection(clientCas, sendTrustInHandshake: true);
            var context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true, trust);
            return new Material(context, leaf, clientCas);
        }
        catch (CryptographicException ex)
        {
            var problem = $"certificate {Describe(leaf)} in {options.CertificateFile} cannot be used for TLS ({ex.GetType().Name})";
            leaf.Dispose();
            throw new TlsMaterialException(Settings.TlsCertFile, problem, ex);
        }
        catch
        {
            leaf.Dispose();
            throw;
        }
    }

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadPem(TlsOptions options, string certificateText, string? password)
    {
        var path = options.CertificateFile;
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(certificateText);
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException(Settings.TlsCertFile, $"file {path} holds a damaged certificate block", ex);
        }

        if (all.Count == 0)
        {
            throw new TlsMaterialException(Settings.TlsCertFile, $"file {path} holds no certificate (no BEGIN CERTIFICATE block)");
        }

        var (keyText, keySetting, keyPath) = options.KeyFile is { } keyFile
            ? (ReadText(keyFile, Settings.TlsKeyFile), Settings.TlsKeyFile, keyFile)
            : (certificateText, Settings.TlsCertFile, path);
        if (!keyText.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new TlsMaterialException(keySetting, options.KeyFile is null
                ? $"file {path} holds no private key; set TLS_KEY_FILE to the key's file (tls.key of a Kubernetes TLS Secret)"
                : $"file {keyPath} holds no PEM private key (no BEGIN PRIVATE KEY block)");
        }

        var encrypted = keyText.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        if (encrypted && password is null)
        {
            throw new TlsMaterialException(keySetting, $"the private key in {keyPath} is encrypted; set TLS_KEY_PASSWORD_FILE");
        }

        X509Certificate2 leaf;
        try
        {
            // The first certificate is the leaf (PEM chains list it first); the key must match it.
            leaf = encrypted ? X509Certificate2.CreateFromEncryptedPem(certificateText, keyText, password) : X509Certificate2.CreateFromPem(certificateText, keyText);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new TlsMaterialException(keySetting, encrypted
                ? $"the private key in {keyPath} could not be decrypted (wrong TLS_KEY_PASSWORD_FILE?) or does not belong to the first certificate in {path}"
                : $"the private key in {keyPath} does not belong to the first certificate in {path}, or a block is damaged", ex);
        }

        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            intermediates.Add(all[i]);
        }

        all[0].Dispose();
        return (leaf, intermediates);
    }

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadPfx(TlsOptions options, byte[] content, string? password)
    {
        var path = options.CertificateFile;
        if (options.KeyFile is not null)
        {
            throw new TlsMaterialException(Settings.TlsKeyFile, $"is set, but TLS_CERT_FILE {path} is not PEM; a PFX holds its own key, so unset TLS_KEY_FILE (or give a PEM certificate)");
        }

        X509Certificate2Collection all;
        try
        {
            // Ephemeral: the key lives in memory only; nothing is written to a key store on disk
            // (the root filesystem is read-only).
            all = X509CertificateLoader.LoadPkcs12Collection(content, password, X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException(Settings.TlsCertFile, password is null
                ? $"file {path} is not PEM, and as a PFX it needs a password (set TLS_KEY_PASSWORD_FILE) or is damaged"
                : $"file {path} is not PEM, and as a PFX the password is wrong or the file is damaged", ex);
        }

        X509Certificate2? leaf = null;
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (leaf is null && certificate.HasPrivateKey)
            {
                leaf = certificate;
            }
            else
            {
                intermediates.Add(certificate);
            }
        }

        return leaf is null
            ? throw new TlsMaterialException(Settings.TlsCertFile, $"PFX file {path} holds no private key; export the certificate with its key")
            : (leaf, intermediates);
    }

    /// <summary>A certificate that names its uses must include server authentication, or every client refuses it.</summary>
    private static void EnsureServerCertificate(X509Certificate2 leaf, string path)
    {
        foreach (var extension in leaf.Extensions)
        {
            if (extension is X509EnhancedKeyUsageExtension usage && usage.EnhancedKeyUsages.Count > 0 &&
                !usage.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == ServerAuthentication))
            {
                throw new TlsMaterialException(Settings.TlsCertFile,
                    $"certificate {Describe(leaf)} in {path} is not for servers: its extended key usage lacks serverAuth");
            }
        }
    }

    private static X509Certificate2Collection LoadCas(string path)
    {
        var cas = new X509Certificate2Collection();
        try
        {
            cas.ImportFromPem(ReadText(path, Settings.TlsClientCaFile));
        }
        catch (CryptographicException ex)
        {
            throw new TlsMaterialException(Settings.TlsClientCaFile, $"file {path} holds a damaged certificate block", ex);
        }

        return cas.Count > 0
            ? cas
            : throw new TlsMaterialException(Settings.TlsClientCaFile,
                $"file {path} holds no certificate (no BEGIN CERTIFICATE block); put the PEM certificates of the CAs that issue client certificates in it (ca.crt)");
    }

    private static string ReadText(string path, Setting setting) => Encoding.UTF8.GetString(ReadBytes(path, setting));

    /// <summary>Own words for every failure: the native build carries no framework message texts.</summary>
    private static byte[] ReadBytes(string path, Setting setting)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxFileLength)
            {
                throw new TlsMaterialException(setting, $"file {path} is {info.Length} bytes, larger than any certificate file; check the path");
            }

            var content = File.ReadAllBytes(path);
            return content.Length > 0 ? content : throw new TlsMaterialException(setting, $"file {path} is empty");
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TlsMaterialException(setting, $"file {path} does not exist; mount the TLS Secret there or correct the path", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new TlsMaterialException(setting, $"file {path} cannot be read by this user; check the file's mode and the pod's fsGroup", ex);
        }
        catch (IOException ex)
        {
            throw new TlsMaterialException(setting, $"file {path} cannot be read ({ex.GetType().Name})", ex);
        }
    }

    /// <summary>Subject and SHA-256 thumbprint: enough to find the certificate, nothing secret.</summary>
    public static string Describe(X509Certificate2 certificate) =>
        $"'{certificate.Subject}' (SHA-256 {Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256))})";
}
