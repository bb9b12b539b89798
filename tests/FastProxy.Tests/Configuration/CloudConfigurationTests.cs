using FastProxy.Configuration;

namespace FastProxy.Tests.Configuration;

public sealed class CloudConfigurationTests
{
    private const string ClientId = "abcd1234-1243-abcd-9876-1234abcd5678";
    private const string TenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    private static ProxyOptions Valid(params (string Name, string Value)[] variables)
    {
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = "myws.eastus-1.metrics.ingest.monitor.azure.com",
            ["IDENTITY_TYPE"] = "workloadidentity",
            ["AZURE_CLIENT_ID"] = ClientId,
            ["AZURE_TENANT_ID"] = TenantId,
            ["AZURE_FEDERATED_TOKEN_FILE"] = "/var/run/secrets/azure/tokens/azure-identity-token",
        };
        foreach (var (name, value) in variables)
        {
            environment[name] = value;
        }

        var result = new ConfigurationLoader(new Dictionary<Setting, string?>(), name => environment.GetValueOrDefault(name)).Load();
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Options!;
    }

    [Theory]
    [InlineData(null, "https://login.microsoftonline.com/", "https://monitor.azure.com/.default")]
    [InlineData("AZUREPUBLIC", "https://login.microsoftonline.com/", "https://monitor.azure.com/.default")]
    [InlineData("azure_public", "https://login.microsoftonline.com/", "https://monitor.azure.com/.default")]
    [InlineData("AZUREGOVERNMENT", "https://login.microsoftonline.us/", "https://monitor.azure.us/.default")]
    [InlineData("AZURE_GOVERNMENT", "https://login.microsoftonline.us/", "https://monitor.azure.us/.default")]
    [InlineData("AzureUSGovernment", "https://login.microsoftonline.us/", "https://monitor.azure.us/.default")]
    [InlineData("AZURECHINA", "https://login.chinacloudapi.cn/", "https://monitor.azure.cn/.default")]
    [InlineData("AzureChinaCloud", "https://login.chinacloudapi.cn/", "https://monitor.azure.cn/.default")]
    public void Cloud_SelectsAuthorityAndIngestionAudience(string? cloud, string authority, string scope)
    {
        var options = Valid(cloud is null ? [] : [("CLOUD", cloud)]);

        Assert.Equal(new Uri(authority), options.Identity.AuthorityHost);
        Assert.Equal(scope, Assert.Single(options.Routes).Scope);
        Assert.False(options.Identity.DisableInstanceDiscovery);
    }

    [Theory]
    [InlineData("AZUREPUBLIC", "myws-abcd.eastus.prometheus.monitor.azure.com", "https://prometheus.monitor.azure.com/.default")]
    [InlineData("AZUREGOVERNMENT", "myws-abcd.usgovvirginia.prometheus.monitor.azure.us", "https://prometheus.monitor.azure.us/.default")]
    [InlineData("AZURECHINA", "myws-abcd.chinanorth3.prometheus.monitor.azure.cn", "https://prometheus.monitor.azure.cn/.default")]
    public void Cloud_QueryEndpointGetsTheCloudsQueryAudience(string cloud, string target, string scope)
    {
        var options = Valid(("CLOUD", cloud), ("TARGET_HOST", target));

        Assert.Equal(scope, Assert.Single(options.Routes).Scope);
    }

    [Fact]
    public void Custom_TakesAuthorityAndAudienceAndTurnsInstanceDiscoveryOff()
    {
        var options = Valid(("CLOUD", "AZURECUSTOM"), ("AAD_HOST_ENDPOINT", "login.microsoftonline.example"),
            ("INGESTION_AAD_AUDIENCE", "https://monitor.azure.example/"));

        Assert.Equal(new Uri("https://login.microsoftonline.example/"), options.Identity.AuthorityHost);
        Assert.True(options.Identity.DisableInstanceDiscovery);
        Assert.Equal("https://monitor.azure.example/.default", options.Routes[0].Scope);
        Assert.Equal(CloudName.AzureCustom, options.Cloud.Name);
    }

    [Fact]
    public void AuthorityOverride_KeepsThePort_AndInstanceDiscoveryCanBeForcedBackOn()
    {
        var options = Valid(("AZURE_AUTHORITY_HOST", "https://127.0.0.1:8443"), ("AAD_DISABLE_INSTANCE_DISCOVERY", "false"));

        Assert.Equal(new Uri("https://127.0.0.1:8443/"), options.Identity.AuthorityHost);
        Assert.False(options.Identity.DisableInstanceDiscovery);
    }

    [Fact]
    public void AadHostEndpoint_WinsOverTheWebhooksAzureAuthorityHost()
    {
        var options = Valid(("CLOUD", "AZUREGOVERNMENT"), ("AAD_HOST_ENDPOINT", "https://login.microsoftonline.us"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"));

        Assert.Equal(new Uri("https://login.microsoftonline.us/"), options.Identity.AuthorityHost);
    }

    [Fact]
    public void ManagedIdentity_InCustomCloudNeedsNoAuthorityHost()
    {
        var options = Valid(("IDENTITY_TYPE", "systemassigned"), ("CLOUD", "AZURECUSTOM"), ("AUDIENCE", "https://monitor.azure.example"));

        Assert.Equal(IdentityType.SystemAssigned, options.Identity.Type);
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData("0", 0)]
    [InlineData("30", 30)]
    [InlineData("2.5", 2.5)]
    public void WaitForToken_IsSecondsAndOffByDefault(string? value, double seconds)
    {
        var options = Valid(value is null ? [] : [("WAIT_FOR_TOKEN_SECONDS", value)]);

        Assert.Equal(TimeSpan.FromSeconds(seconds), options.WaitForToken);
    }

    [Fact]
    public void Describe_NamesTheCloudAndTheWait()
    {
        var text = string.Join("\n", Valid(("CLOUD", "AZURECHINA"), ("WAIT_FOR_TOKEN_SECONDS", "20")).Describe());

        Assert.Contains("cloud: AZURECHINA", text, StringComparison.Ordinal);
        Assert.Contains("waits up to 20s for the first token", text, StringComparison.Ordinal);
        Assert.Contains("authority https://login.chinacloudapi.cn/", text, StringComparison.Ordinal);
    }
}
