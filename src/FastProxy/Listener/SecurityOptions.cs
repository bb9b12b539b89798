using System.Globalization;
using System.Net;
using FastProxy.Configuration;

namespace FastProxy.Listener;

/// <summary>
/// Inbound security (INBOUND_TOKEN_FILE, ALLOWED_SOURCE_CIDRS, TLS and client certificates) and the listener's limits. Read
/// through the loader's own read and error functions, so the loader needs one line for all of them.
/// </summary>
internal sealed record SecurityOptions
{
    /// <summary>Remote-write bodies are well under 1 MB (Azure Monitor rejects more); 64 MiB leaves room for other targets.</summary>
    public const long DefaultMaxRequestBodyBytes = 64L * 1024 * 1024;

    /// <summary>Null when clients need no token.</summary>
    public string? InboundTokenFile { get; init; }

    /// <summary>Empty when every source address is allowed.</summary>
    public IReadOnlyList<IPNetwork> AllowedSourceNetworks { get; init; } = [];

    /// <summary>Null for unlimited.</summary>
    public long? MaxRequestBodyBytes { get; init; } = DefaultMaxRequestBodyBytes;

    public int MaxRequestHeadersBytes { get; init; } = 32 * 1024;
    public int MaxRequestHeaderCount { get; init; } = 100;
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>Bytes per second after <see cref="MinDataRateGrace"/>; 0 for no minimum.</summary>
    public int MinRequestBodyDataRate { get; init; } = 240;

    /// <summary>
    /// Kestrel's default grace before the minimum rate applies. Not a setting; tests shorten it
    /// (Kestrel requires more than its one-second heartbeat).
    /// </summary>
    public TimeSpan MinDataRateGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Null for unlimited.</summary>
    public int? MaxConcurrentConnections { get; init; } = 1024;

    /// <summary>
    /// Proxied requests in flight at once; null for unlimited. 1024 matches the connection limit,
    /// so HTTP/1.1 clients (one request per connection) meet that one first and this one bounds
    /// HTTP/2 clients multiplexing many streams over few connections. Bodies stream, so a request
    /// in flight costs tens of KiB: 1024 of them bound memory far below a pod's limit, while one
    /// Prometheus needs at most max_shards (default 50) per remote_write queue.
    /// </summary>
    public int? MaxConcurrentRequests { get; init; } = 1024;

    /// <summary>Null when the listener speaks plain HTTP.</summary>
    public TlsOptions? Tls { get; init; }

    /// <summary>Whether anything stands between a client that reaches the port and the proxy's identity.</summary>
    public bool HasInboundProtection => InboundTokenFile is not null || AllowedSourceNetworks.Count > 0 || Tls is { RequiresClientCertificate: true };

    public static SecurityOptions Read(Func<Setting, string?> read, Action<Setting, string> error)
    {
        var options = new SecurityOptions();
        if (read(Settings.InboundTokenFile) is { } tokenFile)
        {
            // Checked now so a typo stops start-up instead of refusing every request. The content
            // is never part of a message.
            var problem = InboundToken.Validate(tokenFile);
            if (problem is null)
            {
                options = options with { InboundTokenFile = tokenFile };
            }
            else
            {
                error(Settings.InboundTokenFile, problem);
            }
        }

        if (read(Settings.AllowedSourceCidrs) is { } cidrs)
        {
            var networks = new List<IPNetwork>();
            foreach (var part in cidrs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (TryParseNetwork(part, out var network))
                {
                    networks.Add(network);
                }
                else
                {
                    error(Settings.AllowedSourceCidrs, $"'{part}' is not a CIDR; use address/prefix with no host bits set, e.g. 10.0.0.0/8 or 127.0.0.1/32");
                }
            }

            if (networks.Count == 0 && !cidrs.Split(',').Any(p => p.Trim().Length > 0))
            {
                error(Settings.AllowedSourceCidrs, "lists no CIDR; unset it to allow every address");
            }

            options = options with { AllowedSourceNetworks = networks };
        }

        if (ReadLong(read, error, Settings.MaxRequestBodyBytes, 0, long.MaxValue) is { } body)
        {
            options = options with { MaxRequestBodyBytes = body == 0 ? null : body };
        }

        if (ReadLong(read, error, Settings.MaxRequestHeadersBytes, 1024, 1024 * 1024) is { } headerBytes)
        {
            options = options with { MaxRequestHeadersBytes = (int)headerBytes };
        }

        if (ReadLong(read, error, Settings.MaxRequestHeaderCount, 1, 10_000) is { } headerCount)
        {
            options = options with { MaxRequestHeaderCount = (int)headerCount };
        }

        if (ReadSeconds(read, error, Settings.RequestHeadersTimeout) is { } headersTimeout)
        {
            options = options with { RequestHeadersTimeout = headersTimeout };
        }

        if (ReadSeconds(read, error, Settings.KeepAliveTimeout) is { } keepAlive)
        {
            options = options with { KeepAliveTimeout = keepAlive };
        }

        if (ReadLong(read, error, Settings.MinRequestBodyDataRate, 0, 1_000_000_000) is { } rate)
        {
            options = options with { MinRequestBodyDataRate = (int)rate };
        }

        if (ReadLong(read, error, Settings.MaxConcurrentConnections, 0, 1_000_000) is { } connections)
        {
            options = options with { MaxConcurrentConnections = connections == 0 ? null : (int)connections };
        }

        if (ReadLong(read, error, Settings.MaxConcurrentRequests, 0, 1_000_000) is { } requests)
        {
            options = options with { MaxConcurrentRequests = requests == 0 ? null : (int)requests };
        }

        options = options with { Tls = TlsOptions.Read(read, error) };

        return options;
    }

    /// <summary>
    /// A CIDR with no host bits set. A bare address means that one host.
    /// </summary>
    private static bool TryParseNetwork(string text, out IPNetwork network)
    {
        if (!text.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(text, out var single))
        {
            network = new IPNetwork(single, single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        // 10.0.0.1/8 is usually a typo for 10.0.0.1/32 or for 10.0.0.0/8: refused rather than guessed.
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return IPNetwork.TryParse(text, out network) && slash > 0 &&
               IPAddress.TryParse(text.AsSpan(0, slash), out var address) && network.BaseAddress.Equals(address);
    }

    private static long? ReadLong(Func<Setting, string?> read, Action<Setting, string> error, Setting setting, long min, long max)
    {
        if (read(setting) is not { } raw)
        {
            return null;
        }

        if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            error(setting, max == long.MaxValue
                ? $"'{raw}' is not a whole number of at least {min}"
                : $"'{raw}' is not a whole number from {min} to {max}");
            return null;
        }

        return value;
    }

    private static TimeSpan? ReadSeconds(Func<Setting, string?> read, Action<Setting, string> error, Setting setting)
    {
        if (read(setting) is not { } raw)
        {
            return null;
        }

        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ||
            !double.IsFinite(seconds) || seconds <= 0 || seconds > 86_400)
        {
            error(setting, $"'{raw}' is not a number of seconds above 0 and at most 86400");
            return null;
        }

        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>For the start-up log; the token's file is named, never its content.</summary>
    public string Describe()
    {
        var token = InboundTokenFile is null ? "inbound token: off" : $"inbound token: from file {InboundTokenFile}";
        var sources = AllowedSourceNetworks.Count == 0 ? "sources: any" : "sources: " + string.Join(",", AllowedSourceNetworks);
        var body = MaxRequestBodyBytes is { } max ? $"{max} bytes" : "unlimited";
        var connections = MaxConcurrentConnections is { } c ? c.ToString(CultureInfo.InvariantCulture) : "unlimited";
        var requests = MaxConcurrentRequests is { } r ? r.ToString(CultureInfo.InvariantCulture) : "unlimited";
        var tls = Tls?.Describe() ?? "tls: off";
        return $"security: {token}; {sources}; {tls}; limits: body {body}, headers {MaxRequestHeadersBytes} bytes / {MaxRequestHeaderCount} headers, " +
               $"headers timeout {RequestHeadersTimeout.TotalSeconds}s, keep-alive {KeepAliveTimeout.TotalSeconds}s, " +
               $"min body rate {MinRequestBodyDataRate} B/s, max {connections} connections, max {requests} requests in flight";
    }
}
