namespace FastProxy.Configuration;

internal enum CloudName
{
    AzurePublic,
    AzureGovernment,
    AzureChina,
    AzureCustom,
}

/// <summary>
/// What a cloud decides: the Entra authority host and the default token audiences of Azure
/// Monitor's ingestion and query endpoints. Values as Azure.Identity's AzureAuthorityHosts and the
/// Prometheus/Grafana/KEDA Azure Monitor integrations use them. AZURECUSTOM (air-gapped clouds)
/// knows none of them: the operator supplies the authority host and the audience.
/// </summary>
internal sealed class AzureCloud
{
    public static readonly AzureCloud Public = new(
        CloudName.AzurePublic, "AZUREPUBLIC", new Uri("https://login.microsoftonline.com/"),
        "https://monitor.azure.com/.default", "https://prometheus.monitor.azure.com/.default", ".prometheus.monitor.azure.com");

    public static readonly AzureCloud Government = new(
        CloudName.AzureGovernment, "AZUREGOVERNMENT", new Uri("https://login.microsoftonline.us/"),
        "https://monitor.azure.us/.default", "https://prometheus.monitor.azure.us/.default", ".prometheus.monitor.azure.us");

    public static readonly AzureCloud China = new(
        CloudName.AzureChina, "AZURECHINA", new Uri("https://login.chinacloudapi.cn/"),
        "https://monitor.azure.cn/.default", "https://prometheus.monitor.azure.cn/.default", ".prometheus.monitor.azure.cn");

    public static readonly AzureCloud Custom = new(CloudName.AzureCustom, "AZURECUSTOM", null, null, null, null);

    private static readonly AzureCloud[] Known = [Public, Government, China];

    private AzureCloud(CloudName name, string displayName, Uri? authorityHost, string? ingestionScope, string? queryScope, string? queryHostSuffix)
    {
        Name = name;
        DisplayName = displayName;
        AuthorityHost = authorityHost;
        IngestionScope = ingestionScope;
        QueryScope = queryScope;
        QueryHostSuffix = queryHostSuffix;
    }

    public CloudName Name { get; }

    /// <summary>The CLOUD value as documented (upper case, no separators).</summary>
    public string DisplayName { get; }

    /// <summary>Null for AZURECUSTOM, where AAD_HOST_ENDPOINT is required.</summary>
    public Uri? AuthorityHost { get; }

    public string? IngestionScope { get; }

    public string? QueryScope { get; }

    /// <summary>Host suffix of the cloud's Azure Monitor workspace query endpoints.</summary>
    public string? QueryHostSuffix { get; }

    public override string ToString() => DisplayName;

    /// <summary>
    /// Parses CLOUD case-insensitively, ignoring '_' and '-': the remote-write sidecar documented
    /// both AZUREPUBLIC and AZURE_PUBLIC, and Azure tooling says AzureCloud / AzureUSGovernment /
    /// AzureChinaCloud.
    /// </summary>
    public static AzureCloud? Parse(string value)
    {
        var key = value.Trim().Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).ToUpperInvariant();
        return key switch
        {
            "AZUREPUBLIC" or "AZUREPUBLICCLOUD" or "AZURECLOUD" or "PUBLIC" => Public,
            "AZUREGOVERNMENT" or "AZUREUSGOVERNMENT" or "AZUREUSGOVERNMENTCLOUD" or "GOVERNMENT" => Government,
            "AZURECHINA" or "AZURECHINACLOUD" or "CHINA" => China,
            "AZURECUSTOM" or "CUSTOM" => Custom,
            _ => null,
        };
    }

    /// <summary>The known cloud whose workspace query endpoints end like <paramref name="host"/>, if any.</summary>
    public static AzureCloud? ForQueryHost(string host) =>
        Known.FirstOrDefault(c => host.EndsWith(c.QueryHostSuffix!, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// True for the public clouds' authority hosts, which Entra's instance discovery knows. MSAL
    /// sends discovery for any other host to login.microsoftonline.com, which an air-gapped cloud
    /// (or a test's loopback fake) cannot use.
    /// </summary>
    public static bool IsWellKnownAuthorityHost(Uri authorityHost) =>
        Known.Any(c => string.Equals(c.AuthorityHost!.Host, authorityHost.Host, StringComparison.OrdinalIgnoreCase));
}
