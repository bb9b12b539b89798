using System.Net;

namespace FastProxy.Configuration;

internal enum IdentityType
{
    SystemAssigned,
    UserAssigned,
    AadApplication,
    WorkloadIdentity,
    AzureCli,
}

internal enum LogFormat
{
    Text,
    Json,
}

/// <summary>
/// A secret given either as a value (an environment variable or flag) or as a file that is read
/// when needed, so a mounted secret can change without a restart. Never printed: ToString says
/// where the secret comes from, not what it is.
/// </summary>
internal sealed class SecretSource
{
    private readonly string? _value;

    private SecretSource(string? value, string? filePath, string origin)
    {
        _value = value;
        FilePath = filePath;
        Origin = origin;
    }

    /// <summary>The file the secret is read from, or null when it was given as a value.</summary>
    public string? FilePath { get; }

    /// <summary>The variable or flag that supplied it, for messages.</summary>
    public string Origin { get; }

    public static SecretSource FromValue(string value, string origin) => new(value, null, origin);

    public static SecretSource FromFile(string path, string origin) => new(null, path, origin);

    /// <summary>The secret: the value, or the file's content without a trailing newline.</summary>
    public async Task<string> ReadAsync(CancellationToken cancellationToken)
    {
        if (_value is not null)
        {
            return _value;
        }

        var text = await Identity.CredentialFiles.ReadTextAsync(FilePath!, Origin, cancellationToken);
        return text.TrimEnd('\r', '\n');
    }

    public override string ToString() => FilePath is null ? $"{Origin} (value not shown)" : $"file {FilePath} ({Origin})";
}

/// <summary>
/// Who FastProxy is when it asks Entra for a token, and where that identity's material lives.
/// Secrets are held as <see cref="SecretSource"/>s, never as plain strings of this record, so the
/// record's generated ToString cannot print them.
/// </summary>
internal sealed record IdentityOptions(IdentityType Type, string? ClientId)
{
    /// <summary>User-assigned managed identity selected by ARM resource id instead of client id.</summary>
    public string? ResourceId { get; init; }

    /// <summary>User-assigned managed identity selected by object (principal) id instead of client id.</summary>
    public string? ObjectId { get; init; }

    public string? TenantId { get; init; }

    public string? CertificatePath { get; init; }

    public SecretSource? CertificatePassword { get; init; }

    /// <summary>Send the certificate in the assertion's x5c header (subject name / issuer authentication).</summary>
    public bool SendCertificateChain { get; init; }

    public SecretSource? ClientSecret { get; init; }

    public string? FederatedTokenFile { get; init; }

    public AzureCloud Cloud { get; init; } = AzureCloud.Public;

    /// <summary>Entra authority host for the flows that talk to Entra directly.</summary>
    public Uri AuthorityHost { get; init; } = AzureCloud.Public.AuthorityHost!;

    public bool DisableInstanceDiscovery { get; init; }

    /// <summary>Why this type was chosen when IDENTITY_TYPE was unset or 'default'; null when it was named.</summary>
    public string? DefaultReason { get; init; }

    /// <summary>
    /// Short, bounded and secret-free name for metric labels: the type and the id that selects the
    /// identity (client ids and resource ids are not secrets; paths and secret sources are left out).
    /// </summary>
    public string MetricLabel => Type switch
    {
        IdentityType.UserAssigned when ResourceId is not null => "userassigned:" + ResourceId[(ResourceId.LastIndexOf('/') + 1)..],
        IdentityType.UserAssigned when ObjectId is not null => "userassigned:" + ObjectId,
        IdentityType.UserAssigned or IdentityType.AadApplication or IdentityType.WorkloadIdentity when ClientId is not null =>
            Type.ToString().ToLowerInvariant() + ":" + ClientId,
        _ => Type.ToString().ToLowerInvariant(),
    };

    public string Describe()
    {
        var text = Type switch
        {
            IdentityType.UserAssigned when ResourceId is not null => $"userassigned (resource id {ResourceId})",
            IdentityType.UserAssigned when ObjectId is not null => $"userassigned (object id {ObjectId})",
            IdentityType.UserAssigned => $"userassigned (client id {ClientId})",
            IdentityType.AadApplication when CertificatePath is not null =>
                $"aadapplication (client id {ClientId}, tenant {TenantId}, certificate {CertificatePath}" +
                (CertificatePassword is null ? "" : $", password from {CertificatePassword}") +
                (SendCertificateChain ? ", x5c sent" : "") + $", authority {AuthorityHost})",
            IdentityType.AadApplication => $"aadapplication (client id {ClientId}, tenant {TenantId}, client secret from {ClientSecret}, authority {AuthorityHost})",
            IdentityType.WorkloadIdentity => $"workloadidentity (client id {ClientId}, tenant {TenantId}, token file {FederatedTokenFile}, authority {AuthorityHost})",
            IdentityType.AzureCli => "azurecli (the signed-in Azure CLI account; for development only)" + (TenantId is null ? "" : $", tenant {TenantId}"),
            _ => "systemassigned",
        };

        if (DefaultReason is not null)
        {
            text += $" [chosen by IDENTITY_TYPE=default: {DefaultReason}]";
        }

        if (DisableInstanceDiscovery && Type is IdentityType.AadApplication or IdentityType.WorkloadIdentity)
        {
            text += " [instance discovery off]";
        }

        return text;
    }
}

/// <summary>
/// How a request path selects a target. <see cref="ExactPath"/> routes replace the client's path
/// with the target's (the remote-write sidecar's INGESTION_URL); prefix routes append it.
/// </summary>
internal sealed record RouteDefinition(string Name, string? ExactPath, TargetAddress Target, string Scope)
{
    /// <summary>
    /// Routes file only: requests whose path starts with this (case-sensitively) take this route;
    /// the longest matching prefix wins. The path is appended to the target unchanged, not
    /// stripped. Null with a null <see cref="ExactPath"/> is the catch-all.
    /// </summary>
    public string? PathPrefix { get; init; }

    /// <summary>Routes file only: this route's own identity; null means the process identity.</summary>
    public IdentityOptions? Identity { get; init; }
}

/// <summary>The validated, immutable configuration of one FastProxy process.</summary>
internal sealed record ProxyOptions
{
    public required IReadOnlyList<RouteDefinition> Routes { get; init; }

    /// <summary>With ROUTES_FILE: the file <see cref="Routes"/> came from, watched for changes (<see cref="RoutesFileWatch"/>).</summary>
    public RoutesFileSource? RoutesFile { get; init; }

    public required IdentityOptions Identity { get; init; }
    public AzureCloud Cloud { get; init; } = AzureCloud.Public;

    /// <summary>How long start-up waits for the first tokens before opening the listener; zero for not at all.</summary>
    public TimeSpan WaitForToken { get; init; } = TimeSpan.Zero;
    public IPAddress ListenAddress { get; init; } = IPAddress.IPv6Any;
    public int ListeningPort { get; init; } = 8081;
    public int? H2cPort { get; init; }
    public int RefreshPercentage { get; init; } = 10;
    public IReadOnlyList<KeyValuePair<string, string>> OverrideRequestHeaders { get; init; } = [];
    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public int MaxConnectionsPerServer { get; init; } = 256;
    public TimeSpan PooledConnectionLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// UPSTREAM_HTTP_VERSION=1.1: https targets get HTTP/1.1 even where they offer HTTP/2, which
    /// costs FastProxy about half the CPU per request (perf-baselines/CHANGES.md, round 8).
    /// </summary>
    public bool UpstreamHttp11Only { get; init; }
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>Run socket completions and request code on the socket event threads (see <see cref="Listener.KestrelTuning"/>).</summary>
    public bool InlineIoCompletions { get; init; } = true;

    /// <summary>Socket event threads; null leaves the runtime's choice (one per core with inline completions).</summary>
    public int? IoThreads { get; init; }
    public string OtelServiceName { get; init; } = "aad_auth_proxy";
    public string? OtelGrpcEndpoint { get; init; }
    public Telemetry.TelemetryOptions Telemetry { get; init; } = new();
    public Diagnostics.DiagnosticsOptions Diagnostics { get; init; } = new();
    public Listener.SecurityOptions Security { get; init; } = new();

    /// <summary>Relay the target's 429 as 503 (Prometheus drops 429 by default).</summary>
    public bool Upstream429As503 { get; init; } = true;

    /// <summary>How long after start-up the target's 401/403 are relayed as 503; zero: never.</summary>
    public TimeSpan UpstreamAuthErrorsAs503 { get; init; } = TimeSpan.FromMinutes(30);
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;
    public LogFormat LogFormat { get; init; } = Console.IsOutputRedirected ? LogFormat.Json : LogFormat.Text;

    /// <summary>A route's line in the start-up log and in the log of a routes-file change.</summary>
    public static string DescribeRoute(RouteDefinition route)
    {
        var match = route.ExactPath ?? (route.PathPrefix is { } prefix ? prefix + "*" : "every path");
        var identity = route.Identity is null ? "" : $", identity {route.Identity.Describe()}";
        return $"route {route.Name}: {match} -> {route.Target} (scope {route.Scope}{identity})";
    }

    /// <summary>One line per setting, secrets left out, for the start-up log.</summary>
    public IEnumerable<string> Describe()
    {
        foreach (var route in Routes)
        {
            yield return DescribeRoute(route);
        }

        if (RoutesFile is { } file)
        {
            yield return $"routes file {file.Path}, read again when it changes (checked every {RoutesFileWatch.CheckInterval.TotalSeconds:0} s)";
        }

        yield return $"identity: {Identity.Describe()}";
        yield return $"cloud: {Cloud}";
        if (WaitForToken > TimeSpan.Zero)
        {
            yield return $"start-up waits up to {WaitForToken.TotalSeconds}s for the first token before listening";
        }

        var listen = ListenAddress.Equals(IPAddress.IPv6Any) ? "*" : ListenAddress.ToString();
        yield return $"listen: {listen}:{ListeningPort} ({(Security.Tls is null ? "HTTP/1.1" : "HTTPS: HTTP/1.1 and HTTP/2")})" + (H2cPort is { } h2c ? $", {listen}:{h2c} (h2c)" : "");
        yield return $"token refresh at {RefreshPercentage}% of lifetime remaining";
        // Override values can carry keys; only their names are logged.
        if (OverrideRequestHeaders.Count > 0)
        {
            yield return "override request headers: " + string.Join(", ", OverrideRequestHeaders.Select(h => h.Key));
        }

        yield return $"upstream: timeout {UpstreamTimeout.TotalSeconds}s, connect timeout {ConnectTimeout.TotalSeconds}s, " +
                     $"max {MaxConnectionsPerServer} connections per server, connection lifetime {PooledConnectionLifetime.TotalSeconds}s, " +
                     (UpstreamHttp11Only ? "HTTP/1.1 to every target" : "HTTP/2 to https targets that offer it");
        yield return $"shutdown drain timeout {DrainTimeout.TotalSeconds}s";
        var eventThreads = IoThreads is { } count ? $"{count} socket event thread{(count == 1 ? "" : "s")}" : null;
        yield return "I/O completions: " + (InlineIoCompletions
            ? $"inline on {eventThreads ?? "the socket event threads (one per core)"}"
            : "thread pool" + (eventThreads is null ? "" : $", from {eventThreads}"));
        yield return Security.Describe();
        yield return $"data safety: target 429 relayed as {(Upstream429As503 ? "503" : "429")}; target 401/403 relayed as " +
                     (UpstreamAuthErrorsAs503 > TimeSpan.Zero ? $"503 for the first {UpstreamAuthErrorsAs503.TotalSeconds:0} s after start-up" : "they are");
    }
}
