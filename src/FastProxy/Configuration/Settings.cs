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

    public static readonly Setting RoutesFile = new("routes-file", ["ROUTES_FILE"],
        "JSON or YAML (.yaml/.yml) file of several routes, each with its own path prefix (or exact path), target, audience and optionally identity; see README 'Routes file'. Read again every 10 s; a valid change applies without restart. Replaces TARGET_HOST/INGESTION_URL/AUDIENCE.");

    public static readonly Setting ListeningPort = new("listening-port", ["LISTENING_PORT"],
        "HTTP/1.1 port to listen on (default 8081); with TLS_CERT_FILE it serves HTTPS, HTTP/1.1 and HTTP/2 chosen by ALPN.");

    public static readonly Setting ListenAddress = new("listen-address", ["LISTEN_ADDRESS"],
        "Address to listen on: an IP address, or * for all interfaces (default). Use 127.0.0.1 for a sidecar.");

    public static readonly Setting H2cPort = new("h2c-port", ["H2C_PORT"],
        "Optional second port that speaks cleartext HTTP/2 with prior knowledge (h2c). Not with TLS_CERT_FILE: the TLS port offers HTTP/2 itself, and a cleartext port would bypass TLS.");

    public static readonly Setting IdentityType = new("identity-type", ["IDENTITY_TYPE"],
        "systemassigned | userassigned | aadapplication | workloadidentity | azurecli | default (case-insensitive). " +
        "Unset means default: workloadidentity when AZURE_FEDERATED_TOKEN_FILE is set, else aadapplication when a certificate or secret is set, " +
        "else userassigned when a client, resource or object id is set, else systemassigned. azurecli is for development only.");

    public static readonly Setting ClientId = new("aad-client-id", ["AAD_CLIENT_ID", "AZURE_CLIENT_ID"],
        "Client id: of the user-assigned managed identity (userassigned; an ARM resource id /subscriptions/… is also accepted here), " +
        "of the app registration (aadapplication), or of the federated identity (workloadidentity).");

    public static readonly Setting ResourceId = new("aad-resource-id", ["AAD_RESOURCE_ID"],
        "userassigned only: select the managed identity by its ARM resource id (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…) instead of its client id.");

    public static readonly Setting ObjectId = new("aad-object-id", ["AAD_OBJECT_ID"],
        "userassigned only: select the managed identity by its object (principal) id instead of its client id.");

    public static readonly Setting TenantId = new("aad-tenant-id", ["AAD_TENANT_ID", "AZURE_TENANT_ID"],
        "Directory (tenant) id, required by aadapplication and workloadidentity; optional for azurecli.");

    public static readonly Setting ClientCertificatePath = new("aad-client-certificate-path", ["AAD_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PATH"],
        "aadapplication: certificate file, PFX/PKCS#12 or PEM with the certificate and its private key in one file. Re-read when it changes (CSI secret-store rotation).");

    public static readonly Setting ClientCertificatePassword = new("aad-client-certificate-password", ["AAD_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_CERTIFICATE_PASSWORD"],
        "Password of the PFX (or of an encrypted PEM key). Prefer AAD_CLIENT_CERTIFICATE_PASSWORD_FILE. Never logged.", IsSecret: true);

    public static readonly Setting ClientCertificatePasswordFile = new("aad-client-certificate-password-file", ["AAD_CLIENT_CERTIFICATE_PASSWORD_FILE"],
        "File holding the certificate's password (trailing newline ignored); re-read with the certificate.");

    public static readonly Setting SendCertificateChain = new("aad-client-certificate-send-chain", ["AAD_CLIENT_CERTIFICATE_SEND_CHAIN", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"],
        "true | false (default false): send the certificate in the assertion's x5c header, for subject-name/issuer (SNI) authentication.");

    public static readonly Setting ClientSecret = new("aad-client-secret", ["AAD_CLIENT_SECRET", "AZURE_CLIENT_SECRET"],
        "aadapplication: the app registration's client secret. Prefer AAD_CLIENT_SECRET_FILE. Never logged.", IsSecret: true);

    public static readonly Setting ClientSecretFile = new("aad-client-secret-file", ["AAD_CLIENT_SECRET_FILE"],
        "aadapplication: file holding the client secret (trailing newline ignored); re-read when it changes.");

    public static readonly Setting FederatedTokenFile = new("azure-federated-token-file", ["AZURE_FEDERATED_TOKEN_FILE"],
        "workloadidentity: the projected service-account token file (set by the workload identity webhook); re-read at every token request, so Kubernetes' rotation is followed.");

    public static readonly Setting Cloud = new("cloud", ["CLOUD"],
        "AZUREPUBLIC (default) | AZUREGOVERNMENT | AZURECHINA | AZURECUSTOM: selects the Entra authority host and the default audiences. AZURECUSTOM needs AAD_HOST_ENDPOINT and an audience.");

    public static readonly Setting AuthorityHost = new("aad-host-endpoint", ["AAD_HOST_ENDPOINT", "AZURE_AUTHORITY_HOST"],
        "Entra authority host, e.g. https://login.microsoftonline.us; overrides the cloud's. Used by aadapplication, workloadidentity and azurecli.");

    public static readonly Setting DisableInstanceDiscovery = new("aad-disable-instance-discovery", ["AAD_DISABLE_INSTANCE_DISCOVERY"],
        "true | false: skip Entra instance discovery. Default: false for the three public clouds' hosts, true for any other authority host (air-gapped clouds cannot reach the discovery endpoint).");

    public static readonly Setting WaitForToken = new("wait-for-token-seconds", ["WAIT_FOR_TOKEN_SECONDS"],
        "Seconds start-up waits for the first token of every route before opening the listener (default 0: open at once and answer 503 until a token is held). " +
        "When the time runs out the listener opens anyway; start-up never fails for want of a token.");

    public static readonly Setting Audience = new("audience", ["AUDIENCE", "INGESTION_AAD_AUDIENCE"],
        "Token audience, with or without /.default. Default: the cloud's query audience (e.g. https://prometheus.monitor.azure.com/.default) when the target is a workspace query endpoint, " +
        "its ingestion audience (e.g. https://monitor.azure.com/.default) otherwise. Required when CLOUD is AZURECUSTOM.");

    public static readonly Setting RefreshPercentage = new("aad-token-refresh-interval-in-percentage", ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"],
        "Refresh the token when this percentage of its lifetime remains, 1-99 (default 10).");

    public static readonly Setting OverrideRequestHeaders = new("override-request-headers", ["OVERRIDE_REQUEST_HEADERS"],
        "JSON object of headers set on every upstream request, e.g. {\"x-ms-foo\":\"bar\"}.");

    public static readonly Setting OtelServiceName = new("otel-service-name", ["OTEL_SERVICE_NAME"],
        "Service name for telemetry (default aad_auth_proxy).");

    public static readonly Setting OtelGrpcEndpoint = new("otel-grpc-endpoint", ["OTEL_GRPC_ENDPOINT"],
        "OTLP gRPC endpoint for telemetry export.");

    // Telemetry (issue 6): where /metrics is served, trace sampling, OTLP metric period, log summary.
    public static readonly Setting MetricsEnabled = new("metrics-enabled", ["METRICS_ENABLED"],
        "true | false (default true): serve the Prometheus scrape endpoint /metrics.");

    public static readonly Setting MetricsPort = new("metrics-port", ["METRICS_PORT"],
        "Serve /metrics, /health and /ready on this separate port instead of LISTENING_PORT; /metrics on the listening port is then proxied like any path. Always plain HTTP, also with TLS_CERT_FILE (kubelet probes send no client certificate).");

    public static readonly Setting TraceSampleRatio = new("otel-traces-sampler-arg", ["OTEL_TRACES_SAMPLER_ARG"],
        "Share of new traces recorded when OTEL_GRPC_ENDPOINT is set, 0-1 (default 1; 0 turns tracing off). An incoming traceparent's sampled flag is honoured.");

    public static readonly Setting MetricExportInterval = new("otel-metric-export-interval", ["OTEL_METRIC_EXPORT_INTERVAL"],
        "Milliseconds between OTLP metric exports (default 60000).");

    public static readonly Setting LogSummaryInterval = new("log-summary-interval-seconds", ["LOG_SUMMARY_INTERVAL_SECONDS"],
        "Seconds between Information traffic summaries (requests, bytes, durations, failures by kind); default 60, 0 turns them off.");

    public static readonly IReadOnlyList<Setting> Telemetry = [MetricsEnabled, MetricsPort, TraceSampleRatio, MetricExportInterval, LogSummaryInterval];

    // Payload diagnostics (issue 4): the sampling tap and remote-write 2.0 -> 1.0 translation.
    public static readonly Setting DiagnosticsSampleEvery = new("diagnostics-sample-every", ["DIAGNOSTICS_SAMPLE_EVERY"],
        "Decode 1 request body in N while it streams and show the summaries on /fastproxy/payloads; 0 (default) turns the tap off.");

    public static readonly Setting DiagnosticsRecent = new("diagnostics-recent", ["DIAGNOSTICS_RECENT"],
        "How many sampled summaries /fastproxy/payloads keeps (default 20).");

    public static readonly Setting DiagnosticsMaxBodyBytes = new("diagnostics-max-body-bytes", ["DIAGNOSTICS_MAX_BODY_BYTES"],
        "Largest body the tap copies (default 4194304); larger ones are forwarded but not decoded.");

    public static readonly Setting TranslateRemoteWriteV2 = new("translate-remote-write-v2", ["TRANSLATE_REMOTE_WRITE_V2"],
        "true | false (default false): decode remote-write 2.0 bodies and forward them as 1.0, for targets that accept only 1.0 (Azure Monitor documents only 1.0). Such bodies are held whole (at most 32 MiB decompressed).");

    public static readonly IReadOnlyList<Setting> Diagnostics = [DiagnosticsSampleEvery, DiagnosticsRecent, DiagnosticsMaxBodyBytes, TranslateRemoteWriteV2];

    // Inbound security and listener limits (issue 7): who may use the proxy's identity, and how much they may send.
    public static readonly Setting InboundTokenFile = new("inbound-token-file", ["INBOUND_TOKEN_FILE"],
        "File holding the bearer token clients must send (Authorization: Bearer <token>; Prometheus: authorization.credentials_file). " +
        "Off by default. Re-read when it changes (checked at most once per second). Missing or wrong token: 401. /health, /ready and /metrics stay open.");

    public static readonly Setting AllowedSourceCidrs = new("allowed-source-cidrs", ["ALLOWED_SOURCE_CIDRS"],
        "Comma-separated CIDRs of client addresses allowed to use the proxy, e.g. 10.0.0.0/8,127.0.0.1/32 (IPv4-mapped IPv6 clients match IPv4 ranges). Others get 403. Off by default.");

    public static readonly Setting MaxRequestBodyBytes = new("max-request-body-bytes", ["MAX_REQUEST_BODY_BYTES"],
        "Largest request body accepted, in bytes (default 67108864 = 64 MiB; 0 = unlimited). Larger ones get 413. Azure Monitor itself accepts at most 1 MB: lower max_samples_per_send.");

    public static readonly Setting MaxRequestHeadersBytes = new("max-request-headers-bytes", ["MAX_REQUEST_HEADERS_BYTES"],
        "Largest total size of a request's headers, in bytes (default 32768). Larger: 431.");

    public static readonly Setting MaxRequestHeaderCount = new("max-request-header-count", ["MAX_REQUEST_HEADER_COUNT"],
        "Most headers a request may carry (default 100). More: 431.");

    public static readonly Setting RequestHeadersTimeout = new("request-headers-timeout-seconds", ["REQUEST_HEADERS_TIMEOUT_SECONDS"],
        "Seconds a client has to send a request's headers (default 30); slower connections are closed.");

    public static readonly Setting KeepAliveTimeout = new("keep-alive-timeout-seconds", ["KEEP_ALIVE_TIMEOUT_SECONDS"],
        "Seconds an idle client connection is kept open (default 130).");

    public static readonly Setting MinRequestBodyDataRate = new("min-request-body-data-rate", ["MIN_REQUEST_BODY_DATA_RATE"],
        "Slowest request body upload tolerated, in bytes per second after a 5 s grace period (default 240; 0 = no minimum). Slower clients are disconnected (slowloris).");

    public static readonly Setting MaxConcurrentConnections = new("max-concurrent-connections", ["MAX_CONCURRENT_CONNECTIONS"],
        "Most client connections open at once, all ports together (default 1024; 0 = unlimited). Further connections are closed at once.");

    public static readonly Setting MaxConcurrentRequests = new("max-concurrent-requests", ["MAX_CONCURRENT_REQUESTS"],
        "Most proxied requests in flight at once (default 1024; 0 = unlimited). Further ones get 503 with Retry-After: 1, which Prometheus retries. /health, /ready and /metrics are not counted.");

    public static readonly Setting TlsCertFile = new("tls-cert-file", ["TLS_CERT_FILE"],
        "Serve LISTENING_PORT over TLS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate: PEM (leaf first, then intermediates; tls.crt of a Kubernetes TLS Secret) or PFX/PKCS#12. " +
        "Re-read when it changes (checked at most once per second). Off by default.");

    public static readonly Setting TlsKeyFile = new("tls-key-file", ["TLS_KEY_FILE"],
        "PEM private key of TLS_CERT_FILE (tls.key). Not needed when TLS_CERT_FILE is a PFX or a PEM holding the key too. Re-read with the certificate.");

    public static readonly Setting TlsKeyPasswordFile = new("tls-key-password-file", ["TLS_KEY_PASSWORD_FILE"],
        "File holding the password of a PFX TLS_CERT_FILE or of an encrypted PEM TLS_KEY_FILE (trailing newline ignored). Never logged.");

    public static readonly Setting TlsClientCaFile = new("tls-client-ca-file", ["TLS_CLIENT_CA_FILE"],
        "Require client certificates (mTLS): PEM bundle of the CAs a client certificate must chain to (system roots are not trusted). Needs TLS_CERT_FILE. " +
        "Clients without such a certificate fail the TLS handshake. Re-read when it changes.");

    public static readonly IReadOnlyList<Setting> Tls = [TlsCertFile, TlsKeyFile, TlsKeyPasswordFile, TlsClientCaFile];

    // Data safety (issue 7): answers of the target that would make Prometheus drop a batch.
    public static readonly Setting Upstream429As503 = new("upstream-429-as-503", ["UPSTREAM_429_AS_503"],
        "true (default) | false: relay the target's 429 as 503, keeping Retry-After. Prometheus drops a batch answered 429 unless retry_on_http_429 is set, and retries 503.");

    public static readonly Setting UpstreamAuthErrorsAs503Seconds = new("upstream-auth-errors-as-503-seconds", ["UPSTREAM_AUTH_ERRORS_AS_503_SECONDS"],
        "Seconds after start-up during which the target's 401 and 403 are relayed as 503, because Azure role assignments take up to ~30 minutes to apply (default 1800; 0 turns it off).");

    public static readonly IReadOnlyList<Setting> DataSafety = [Upstream429As503, UpstreamAuthErrorsAs503Seconds];

    public static readonly IReadOnlyList<Setting> Security =
    [
        InboundTokenFile, AllowedSourceCidrs, MaxRequestBodyBytes, MaxRequestHeadersBytes, MaxRequestHeaderCount,
        RequestHeadersTimeout, KeepAliveTimeout, MinRequestBodyDataRate, MaxConcurrentConnections, MaxConcurrentRequests,
        .. Tls,
    ];

    public static readonly Setting UpstreamTimeout = new("upstream-timeout-seconds", ["UPSTREAM_TIMEOUT_SECONDS"],
        "Seconds the target may stay silent (no response headers, no body progress) before the request fails with 504 (default 60).");

    public static readonly Setting ConnectTimeout = new("upstream-connect-timeout-seconds", ["UPSTREAM_CONNECT_TIMEOUT_SECONDS"],
        "Seconds to establish a connection (TCP and TLS) to the target before 502 (default 10).");

    public static readonly Setting MaxConnectionsPerServer = new("max-connections-per-server", ["MAX_CONNECTIONS_PER_SERVER"],
        "Upper bound of pooled connections to the target (default 256).");

    public static readonly Setting PooledConnectionLifetime = new("pooled-connection-lifetime-seconds", ["POOLED_CONNECTION_LIFETIME_SECONDS"],
        "Seconds before a pooled connection is replaced, so DNS changes are followed (default 300).");

    public static readonly Setting UpstreamHttpVersion = new("upstream-http-version", ["UPSTREAM_HTTP_VERSION"],
        "2 | 1.1: the HTTP version to https targets (default 2: HTTP/2 where the target offers it by ALPN). 1.1 costs about half the CPU per request and needs one connection per request in flight. Plain http targets always get HTTP/1.1.");

    public static readonly Setting DrainTimeout = new("shutdown-drain-timeout-seconds", ["SHUTDOWN_DRAIN_TIMEOUT_SECONDS"],
        "Seconds in-flight requests get to finish after SIGTERM (default 25).");

    public static readonly Setting IoCompletions = new("io-completions", ["IO_COMPLETIONS"],
        "inline | threadpool: where socket completions run (default inline, on the socket event threads with no thread-pool hop; threadpool isolates connections from each other's request code at more CPU per request).");

    public static readonly Setting IoThreads = new("io-threads", ["IO_THREADS"],
        "Socket event threads (default: one per core). 1 runs the listener like a single nginx worker: less CPU per small HTTP/1.1 request, at most one core for HTTP/1.1 forwarding.");

    public static readonly Setting LogLevel = new("log-level", ["LOG_LEVEL"],
        "trace | debug | information | warning | error (default information).");

    public static readonly Setting LogFormat = new("log-format", ["LOG_FORMAT"],
        "json | text (default: text on a terminal, json otherwise).");

    public static readonly IReadOnlyList<Setting> All =
    [
        TargetHost, IngestionUrl, RoutesFile, ListeningPort, ListenAddress, H2cPort, IdentityType, ClientId, ResourceId, ObjectId, TenantId,
        ClientCertificatePath, ClientCertificatePassword, ClientCertificatePasswordFile, SendCertificateChain, ClientSecret,
        ClientSecretFile, FederatedTokenFile, Cloud, AuthorityHost, DisableInstanceDiscovery, Audience, WaitForToken, RefreshPercentage, OverrideRequestHeaders, OtelServiceName,
        OtelGrpcEndpoint, UpstreamTimeout, ConnectTimeout, MaxConnectionsPerServer, PooledConnectionLifetime, UpstreamHttpVersion,
        DrainTimeout, IoCompletions, IoThreads, LogLevel, LogFormat,
        .. Telemetry,
        .. Diagnostics,
        .. Security,
        .. DataSafety,
    ];

    /// <summary>
    /// Variables read by Azure.Identity itself rather than by FastProxy's parser; deployment files
    /// may set them, so the deployment tests accept them too.
    /// </summary>
    public static readonly FrozenSet<string> ReadByAzureIdentity = new[]
    {
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
    }.ToFrozenSet(StringComparer.Ordinal);

    public static bool IsKnownEnvironmentVariable(string name) =>
        ReadByAzureIdentity.Contains(name) || All.Any(s => s.EnvironmentVariables.Contains(name, StringComparer.Ordinal));
}
