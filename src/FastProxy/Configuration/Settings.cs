using System.Collections.Frozen;

namespace FastProxy.Configuration;

/// <summary>
/// One configurable value: its command-line flag, the environment variables that may carry it
/// (first one wins; the older products' names are kept so that only the image has to change),
/// and the text shown by <c>--help</c>.
/// </summary>
internal sealed record Setting(string Flag, string[] EnvironmentVariables, string Description, bool IsSecret = false)
{
    public string OptionName => "--" + Flag;
}

/// <summary>
/// The single table of everything FastProxy can be told. The CLI builds its options from it,
/// the loader reads it, and the deployment tests check the Helm chart against it, so a setting
/// exists in one place only.
/// </summary>
internal static class Settings
{
    public static readonly Setting TargetHost = new("target-host", ["TARGET_HOST"],
        "Where requests go: [scheme://]host[:port][/path-prefix]. No scheme means https; http:// is allowed for in-cluster targets.");

    public static readonly Setting IngestionUrl = new("ingestion-url", ["INGESTION_URL"],
        "The remote-write sidecar's form: the full ingestion endpoint (path and api-version query). Requests to /api/v1/write go to exactly this URL; other paths go to its host.");

    public static readonly Setting ListeningPort = new("listening-port", ["LISTENING_PORT"],
        "HTTP/1.1 port to listen on (default 8081).");

    public static readonly Setting ListenAddress = new("listen-address", ["LISTEN_ADDRESS"],
        "Address to listen on: an IP address, or * for all interfaces (default). Use 127.0.0.1 for a sidecar.");

    public static readonly Setting H2cPort = new("h2c-port", ["H2C_PORT"],
        "Optional second port that speaks cleartext HTTP/2 with prior knowledge (h2c).");

    public static readonly Setting IdentityType = new("identity-type", ["IDENTITY_TYPE"],
        "systemassigned | userassigned (case-insensitive).");

    public static readonly Setting ClientId = new("aad-client-id", ["AAD_CLIENT_ID", "AZURE_CLIENT_ID"],
        "Client id of the user-assigned managed identity.");

    public static readonly Setting TenantId = new("aad-tenant-id", ["AAD_TENANT_ID", "AZURE_TENANT_ID"],
        "Tenant id (used by application identities).");

    public static readonly Setting ClientCertificatePath = new("aad-client-certificate-path", ["AAD_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PATH"],
        "Certificate file for application identities.");

    public static readonly Setting Audience = new("audience", ["AUDIENCE", "INGESTION_AAD_AUDIENCE"],
        "Token audience, with or without /.default (default https://monitor.azure.com/.default).");

    public static readonly Setting RefreshPercentage = new("aad-token-refresh-interval-in-percentage", ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"],
        "Refresh the token when this percentage of its lifetime remains, 1-99 (default 10).");

    public static readonly Setting OverrideRequestHeaders = new("override-request-headers", ["OVERRIDE_REQUEST_HEADERS"],
        "JSON object of headers set on every upstream request, e.g. {\"x-ms-foo\":\"bar\"}.");

    public static readonly Setting OtelServiceName = new("otel-service-name", ["OTEL_SERVICE_NAME"],
        "Service name for telemetry (default aad_auth_proxy).");

    public static readonly Setting OtelGrpcEndpoint = new("otel-grpc-endpoint", ["OTEL_GRPC_ENDPOINT"],
        "OTLP gRPC endpoint for telemetry export.");

    public static readonly Setting UpstreamTimeout = new("upstream-timeout-seconds", ["UPSTREAM_TIMEOUT_SECONDS"],
        "Seconds the target may stay silent (no response headers, no body progress) before the request fails with 504 (default 60).");

    public static readonly Setting ConnectTimeout = new("upstream-connect-timeout-seconds", ["UPSTREAM_CONNECT_TIMEOUT_SECONDS"],
        "Seconds to establish a connection (TCP and TLS) to the target before 502 (default 10).");

    public static readonly Setting MaxConnectionsPerServer = new("max-connections-per-server", ["MAX_CONNECTIONS_PER_SERVER"],
        "Upper bound of pooled connections to the target (default 256).");

    public static readonly Setting PooledConnectionLifetime = new("pooled-connection-lifetime-seconds", ["POOLED_CONNECTION_LIFETIME_SECONDS"],
        "Seconds before a pooled connection is replaced, so DNS changes are followed (default 300).");

    public static readonly Setting DrainTimeout = new("shutdown-drain-timeout-seconds", ["SHUTDOWN_DRAIN_TIMEOUT_SECONDS"],
        "Seconds in-flight requests get to finish after SIGTERM (default 25).");

    public static readonly Setting LogLevel = new("log-level", ["LOG_LEVEL"],
        "trace | debug | information | warning | error (default information).");

    public static readonly Setting LogFormat = new("log-format", ["LOG_FORMAT"],
        "json | text (default: text on a terminal, json otherwise).");

    public static readonly IReadOnlyList<Setting> All =
    [
        TargetHost, IngestionUrl, ListeningPort, ListenAddress, H2cPort, IdentityType, ClientId, TenantId,
        ClientCertificatePath, Audience, RefreshPercentage, OverrideRequestHeaders, OtelServiceName,
        OtelGrpcEndpoint, UpstreamTimeout, ConnectTimeout, MaxConnectionsPerServer, PooledConnectionLifetime,
        DrainTimeout, LogLevel, LogFormat,
    ];

    /// <summary>
    /// Variables read by Azure.Identity itself rather than by FastProxy's parser; deployment files
    /// may set them, so the deployment tests accept them too.
    /// </summary>
    public static readonly FrozenSet<string> ReadByAzureIdentity = new[]
    {
        "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
    }.ToFrozenSet(StringComparer.Ordinal);

    public static bool IsKnownEnvironmentVariable(string name) =>
        ReadByAzureIdentity.Contains(name) || All.Any(s => s.EnvironmentVariables.Contains(name, StringComparer.Ordinal));
}
