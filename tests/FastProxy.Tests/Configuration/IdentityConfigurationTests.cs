using FastProxy.Configuration;

namespace FastProxy.Tests.Configuration;

public sealed class IdentityConfigurationTests
{
    private const string ClientId = "abcd1234-1243-abcd-9876-1234abcd5678";
    private const string TenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private const string ResourceId = "/subscriptions/0000aaaa-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/prom-writer";
    private const string SecretValue = "s3cr3t-client-secret-Zx9~";

    private static ConfigurationResult Load(params (string Name, string Value)[] variables)
    {
        var environment = new Dictionary<string, string> { ["TARGET_HOST"] = "myws.eastus-1.metrics.ingest.monitor.azure.com" };
        foreach (var (name, value) in variables)
        {
            environment[name] = value;
        }

        return new ConfigurationLoader(new Dictionary<Setting, string?>(), name => environment.GetValueOrDefault(name)).Load();
    }

    private static IdentityOptions Valid(params (string Name, string Value)[] variables)
    {
        var result = Load(variables);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Options!.Identity;
    }

    [Theory]
    [InlineData("systemassigned", "SystemAssigned")]
    [InlineData("UserAssigned", "UserAssigned")]
    [InlineData("AADApplication", "AadApplication")]
    [InlineData("aadapplication", "AadApplication")]
    [InlineData("workloadIdentity", "WorkloadIdentity")]
    [InlineData("WORKLOADIDENTITY", "WorkloadIdentity")]
    [InlineData("AzureCli", "AzureCli")]
    public void IdentityType_EveryKindIsAcceptedCaseInsensitively(string value, string expected)
    {
        var identity = Valid(("IDENTITY_TYPE", value), ("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", TenantId),
            ("AAD_CLIENT_CERTIFICATE_PATH", "/mnt/secrets/cert.pem"), ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"));

        Assert.Equal(expected, identity.Type.ToString());
        Assert.Null(identity.DefaultReason);
    }

    [Theory]
    [InlineData(null, "SystemAssigned", "no identity settings are set")]
    [InlineData("default", "SystemAssigned", "no identity settings are set")]
    [InlineData("client-id", "UserAssigned", "a managed identity id is set")]
    [InlineData("certificate", "AadApplication", "a client certificate is set")]
    [InlineData("secret", "AadApplication", "a client secret is set")]
    [InlineData("webhook", "WorkloadIdentity", "AZURE_FEDERATED_TOKEN_FILE is set")]
    public void Default_ChoosesTheIdentityTheEnvironmentDescribes(string? environment, string expected, string reason)
    {
        var variables = environment switch
        {
            "client-id" => new[] { ("AZURE_CLIENT_ID", ClientId) },
            "certificate" => [("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", TenantId), ("AAD_CLIENT_CERTIFICATE_PATH", "/c.pfx")],
            "secret" => [("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", TenantId), ("AAD_CLIENT_SECRET_FILE", "/s")],
            // What the workload identity webhook injects into a labelled pod.
            "webhook" => [("AZURE_CLIENT_ID", ClientId), ("AZURE_TENANT_ID", TenantId),
                ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"), ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")],
            "default" => [("IDENTITY_TYPE", "default")],
            _ => [],
        };

        var identity = Valid(variables);

        Assert.Equal(expected, identity.Type.ToString());
        Assert.Equal(reason, identity.DefaultReason);
        Assert.Contains("chosen by IDENTITY_TYPE=default", identity.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void UserAssigned_ByResourceId()
    {
        var identity = Valid(("IDENTITY_TYPE", "userassigned"), ("AAD_RESOURCE_ID", ResourceId));

        Assert.Equal(ResourceId, identity.ResourceId);
        Assert.Null(identity.ClientId);
        Assert.Contains("resource id", identity.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void UserAssigned_ResourceIdInClientIdIsUnderstood()
    {
        var identity = Valid(("IDENTITY_TYPE", "userassigned"), ("AAD_CLIENT_ID", ResourceId));

        Assert.Equal(ResourceId, identity.ResourceId);
        Assert.Null(identity.ClientId);
    }

    [Fact]
    public void UserAssigned_ByObjectId()
    {
        var identity = Valid(("IDENTITY_TYPE", "userassigned"), ("AAD_OBJECT_ID", "11111111-2222-3333-4444-555555555555"));

        Assert.Equal("11111111-2222-3333-4444-555555555555", identity.ObjectId);
        Assert.Null(identity.ClientId);
    }

    [Fact]
    public void AadApplication_WithCertificate()
    {
        var identity = Valid(("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", TenantId),
            ("AAD_CLIENT_CERTIFICATE_PATH", "/mnt/secrets/cert.pfx"), ("AAD_CLIENT_CERTIFICATE_PASSWORD_FILE", "/mnt/secrets/password"),
            ("AAD_CLIENT_CERTIFICATE_SEND_CHAIN", "true"));

        Assert.Equal(ClientId, identity.ClientId);
        Assert.Equal(TenantId, identity.TenantId);
        Assert.Equal("/mnt/secrets/cert.pfx", identity.CertificatePath);
        Assert.Equal("/mnt/secrets/password", identity.CertificatePassword!.FilePath);
        Assert.True(identity.SendCertificateChain);
        Assert.Null(identity.ClientSecret);
        Assert.Equal(new Uri("https://login.microsoftonline.com/"), identity.AuthorityHost);
        Assert.False(identity.DisableInstanceDiscovery);
    }

    [Fact]
    public void AadApplication_TheSidecarsAzureNamesWork()
    {
        var identity = Valid(("IDENTITY_TYPE", "aadApplication"), ("AZURE_CLIENT_ID", ClientId), ("AZURE_TENANT_ID", TenantId),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"), ("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "1"));

        Assert.Equal("/c.pem", identity.CertificatePath);
        Assert.True(identity.SendCertificateChain);
    }

    [Fact]
    public async Task AadApplication_WithSecretFromAVariable()
    {
        var identity = Valid(("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_SECRET", SecretValue));

        Assert.Null(identity.CertificatePath);
        Assert.Null(identity.ClientSecret!.FilePath);
        Assert.Equal(SecretValue, await identity.ClientSecret.ReadAsync(CancellationToken.None));
        Assert.Equal("contoso.onmicrosoft.com", identity.TenantId);
    }

    [Fact]
    public async Task AadApplication_WithSecretFromAFile_DropsTheTrailingNewline()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, SecretValue + "\n");
            var identity = Valid(("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", TenantId),
                ("AAD_CLIENT_SECRET_FILE", file));

            Assert.Equal(file, identity.ClientSecret!.FilePath);
            Assert.Equal(SecretValue, await identity.ClientSecret.ReadAsync(CancellationToken.None));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void WorkloadIdentity_TakesWhatTheWebhookInjects()
    {
        var identity = Valid(("IDENTITY_TYPE", "workloadIdentity"), ("AZURE_CLIENT_ID", ClientId), ("AZURE_TENANT_ID", TenantId),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"));

        Assert.Equal("/var/run/secrets/azure/tokens/azure-identity-token", identity.FederatedTokenFile);
        Assert.Equal(ClientId, identity.ClientId);
        Assert.Equal(new Uri("https://login.microsoftonline.com/"), identity.AuthorityHost);
        Assert.False(identity.DisableInstanceDiscovery);
    }

    [Fact]
    public void AzureCli_NeedsNothingAndSaysDevelopmentOnly()
    {
        var identity = Valid(("IDENTITY_TYPE", "azurecli"));

        Assert.Null(identity.TenantId);
        Assert.Contains("development only", identity.Describe(), StringComparison.Ordinal);
    }

    private static readonly (string, string)[] Application =
        [("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", TenantId)];

    private static readonly (string, string)[] Certificate = [.. Application, ("AAD_CLIENT_CERTIFICATE_PATH", "/c.pfx")];

    private static readonly (string, string)[] Workload =
        [("IDENTITY_TYPE", "workloadidentity"), ("AZURE_CLIENT_ID", ClientId), ("AZURE_TENANT_ID", TenantId), ("AZURE_FEDERATED_TOKEN_FILE", "/t")];

    public static TheoryData<string, (string, string)[], string> InvalidForms => new()
    {
        { "unknown type", [("IDENTITY_TYPE", "managed")], "IDENTITY_TYPE 'managed' is not an identity type; use systemassigned, userassigned, aadapplication, workloadidentity, azurecli or default" },
        { "user-assigned without id", [("IDENTITY_TYPE", "userassigned")], "AAD_CLIENT_ID is required when IDENTITY_TYPE is userassigned" },
        { "bad object id", [("IDENTITY_TYPE", "userassigned"), ("AAD_OBJECT_ID", "bob")], "AAD_OBJECT_ID 'bob' is not an object id" },
        { "bad resource id", [("IDENTITY_TYPE", "userassigned"), ("AAD_RESOURCE_ID", "/subscriptions/x/resourceGroups/rg")], "AAD_RESOURCE_ID '/subscriptions/x/resourceGroups/rg' is not a managed identity resource id" },
        { "bad resource id in client id", [("IDENTITY_TYPE", "userassigned"), ("AAD_CLIENT_ID", "/subscriptions/x")], "AAD_CLIENT_ID '/subscriptions/x' is not a managed identity resource id" },
        { "two selectors", [("IDENTITY_TYPE", "userassigned"), ("AAD_CLIENT_ID", ClientId), ("AAD_OBJECT_ID", ClientId)], "AAD_OBJECT_ID selects the managed identity, and so does another" },
        { "application without client id", [("IDENTITY_TYPE", "aadapplication"), ("AAD_TENANT_ID", TenantId), ("AAD_CLIENT_SECRET", SecretValue)], "AAD_CLIENT_ID is required when IDENTITY_TYPE is aadapplication" },
        { "application without tenant", [("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", ClientId), ("AAD_CLIENT_SECRET", SecretValue)], "AAD_TENANT_ID is required when IDENTITY_TYPE is aadapplication" },
        { "application client id not a guid", [("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", "my-app"), ("AAD_TENANT_ID", TenantId), ("AAD_CLIENT_SECRET", SecretValue)], "AAD_CLIENT_ID 'my-app' is not a client id" },
        { "bad tenant", [.. Certificate, ("AAD_TENANT_ID", "contoso tenant/x")], "AAD_TENANT_ID 'contoso tenant/x' is not a tenant id" },
        { "application without credential", Application, "AAD_CLIENT_CERTIFICATE_PATH is required when IDENTITY_TYPE is aadapplication" },
        { "certificate and secret", [.. Certificate, ("AAD_CLIENT_SECRET", SecretValue)], "AAD_CLIENT_SECRET and AAD_CLIENT_CERTIFICATE_PATH are both set" },
        { "secret twice", [.. Application, ("AAD_CLIENT_SECRET", SecretValue), ("AAD_CLIENT_SECRET_FILE", "/s")], "AAD_CLIENT_SECRET_FILE and AAD_CLIENT_SECRET are both set" },
        { "password twice", [.. Certificate, ("AAD_CLIENT_CERTIFICATE_PASSWORD", SecretValue), ("AAD_CLIENT_CERTIFICATE_PASSWORD_FILE", "/p")], "AAD_CLIENT_CERTIFICATE_PASSWORD_FILE and AAD_CLIENT_CERTIFICATE_PASSWORD are both set" },
        { "password with secret", [.. Application, ("AAD_CLIENT_SECRET_FILE", "/s"), ("AAD_CLIENT_CERTIFICATE_PASSWORD", SecretValue)], "AAD_CLIENT_CERTIFICATE_PASSWORD applies to a certificate" },
        { "send chain not a bool", [.. Certificate, ("AAD_CLIENT_CERTIFICATE_SEND_CHAIN", "maybe")], "AAD_CLIENT_CERTIFICATE_SEND_CHAIN 'maybe' is not true or false" },
        { "workload without token file", [("IDENTITY_TYPE", "workloadidentity"), ("AZURE_CLIENT_ID", ClientId), ("AZURE_TENANT_ID", TenantId)], "AZURE_FEDERATED_TOKEN_FILE is required when IDENTITY_TYPE is workloadidentity" },
        { "workload without tenant", [("IDENTITY_TYPE", "workloadidentity"), ("AZURE_CLIENT_ID", ClientId), ("AZURE_FEDERATED_TOKEN_FILE", "/t")], "AAD_TENANT_ID is required when IDENTITY_TYPE is workloadidentity" },
        { "workload without client id", [("IDENTITY_TYPE", "workloadidentity"), ("AZURE_TENANT_ID", TenantId), ("AZURE_FEDERATED_TOKEN_FILE", "/t")], "AAD_CLIENT_ID is required when IDENTITY_TYPE is workloadidentity" },
        { "authority over http", [.. Workload, ("AZURE_AUTHORITY_HOST", "http://login.microsoftonline.com")], "AZURE_AUTHORITY_HOST 'http://login.microsoftonline.com' is not an authority host" },
        { "authority with a path", [.. Workload, ("AAD_HOST_ENDPOINT", "https://login.microsoftonline.com/mytenant")], "AAD_HOST_ENDPOINT 'https://login.microsoftonline.com/mytenant' is not an authority host" },
        { "discovery not a bool", [.. Workload, ("AAD_DISABLE_INSTANCE_DISCOVERY", "sometimes")], "AAD_DISABLE_INSTANCE_DISCOVERY 'sometimes' is not true or false" },
        { "unknown cloud", [("CLOUD", "mars")], "CLOUD 'mars' is not a cloud; use AZUREPUBLIC, AZUREGOVERNMENT, AZURECHINA or AZURECUSTOM" },
        { "custom cloud without authority", [.. Workload, ("CLOUD", "AZURECUSTOM"), ("INGESTION_AAD_AUDIENCE", "https://monitor.example.cloud/.default")], "AAD_HOST_ENDPOINT is required when CLOUD is AZURECUSTOM" },
        { "custom cloud without audience", [("CLOUD", "AZURE_CUSTOM")], "TARGET_HOST needs an audience when CLOUD is AZURECUSTOM" },
        { "wait for token negative", [("WAIT_FOR_TOKEN_SECONDS", "-1")], "WAIT_FOR_TOKEN_SECONDS '-1' is not a number of seconds from 0 to 3600" },
        { "wait for token text", [("WAIT_FOR_TOKEN_SECONDS", "soon")], "WAIT_FOR_TOKEN_SECONDS 'soon' is not a number of seconds" },
        { "query endpoint of another cloud", [("TARGET_HOST", "myws.usgovvirginia.prometheus.monitor.azure.us")], "TARGET_HOST is a workspace query endpoint of AZUREGOVERNMENT but CLOUD is AZUREPUBLIC; set CLOUD=AZUREGOVERNMENT" },
    };

    [Theory]
    [MemberData(nameof(InvalidForms))]
    public void InvalidForm_IsOneClearLine(string because, (string, string)[] variables, string expected)
    {
        var result = Load(variables);

        Assert.False(result.IsValid, because);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretValue, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Secrets_AppearInNoDescriptionAndNoToString()
    {
        var result = Load([.. Application, ("AAD_CLIENT_SECRET", SecretValue)]);
        var withPassword = Load([.. Certificate, ("AAD_CLIENT_CERTIFICATE_PASSWORD", SecretValue)]);

        foreach (var options in new[] { result.Options!, withPassword.Options! })
        {
            var text = string.Join("\n", options.Describe()) + options + options.Identity;
            Assert.DoesNotContain(SecretValue, text, StringComparison.Ordinal);
            Assert.Contains("value not shown", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EverySecretSetting_IsMarkedSecret()
    {
        Assert.True(Settings.ClientSecret.IsSecret);
        Assert.True(Settings.ClientCertificatePassword.IsSecret);
        Assert.All(Settings.All.Where(s => s.EnvironmentVariables.Any(v => v.EndsWith("_SECRET", StringComparison.Ordinal) || v.EndsWith("_PASSWORD", StringComparison.Ordinal))),
            s => Assert.True(s.IsSecret, s.Flag));
    }
}
