using FastProxy.Configuration;

namespace FastProxy.Listener;

/// <summary>
/// TLS on the listening port (TLS_CERT_FILE, TLS_KEY_FILE, TLS_KEY_PASSWORD_FILE) and client
/// certificates (TLS_CLIENT_CA_FILE). Only paths: the files are re-read when they change
/// (<see cref="ListenerTls"/>), so the options never hold key material.
/// </summary>
internal sealed record TlsOptions(string CertificateFile)
{
    /// <summary>Null when <see cref="CertificateFile"/> holds the key itself (PFX, or PEM with the key).</summary>
    public string? KeyFile { get; init; }

    public string? PasswordFile { get; init; }

    /// <summary>Null when no client certificate is asked for.</summary>
    public string? ClientCaFile { get; init; }

    public bool RequiresClientCertificate => ClientCaFile is not null;

    /// <summary>
    /// Null when TLS is off. Every file is loaded once here, so a wrong path, a key that does not
    /// belong to the certificate or an empty CA bundle stops start-up with a line naming the
    /// setting, instead of failing every handshake later.
    /// </summary>
    public static TlsOptions? Read(Func<Setting, string?> read, Action<Setting, string> error)
    {
        var certificate = read(Settings.TlsCertFile);
        var key = read(Settings.TlsKeyFile);
        var password = read(Settings.TlsKeyPasswordFile);
        var clientCa = read(Settings.TlsClientCaFile);
        if (certificate is null)
        {
            foreach (var (setting, value) in new[] { (Settings.TlsKeyFile, key), (Settings.TlsKeyPasswordFile, password), (Settings.TlsClientCaFile, clientCa) })
            {
                if (value is not null)
                {
                    error(setting, "needs TLS_CERT_FILE: set the listener's certificate too, or unset this");
                }
            }

            return null;
        }

        var options = new TlsOptions(certificate) { KeyFile = key, PasswordFile = password, ClientCaFile = clientCa };
        try
        {
            ListenerTls.LoadMaterial(options).Dispose();
        }
        catch (TlsMaterialException ex)
        {
            error(ex.Setting, ex.Message);
            return null;
        }

        return options;
    }

    public string Describe()
    {
        var key = KeyFile is null ? "" : $", key {KeyFile}";
        var clients = ClientCaFile is null ? "client certificates: not asked for" : $"client certificates: required, CAs from {ClientCaFile}";
        return $"tls: certificate {CertificateFile}{key}; {clients}";
    }
}

/// <summary>A TLS file that cannot be used, with the setting to name in the message.</summary>
internal sealed class TlsMaterialException(Setting setting, string message, Exception? inner = null) : Exception(message, inner)
{
    public Setting Setting { get; } = setting;
}
