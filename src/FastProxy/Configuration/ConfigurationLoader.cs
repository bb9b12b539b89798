using System.Globalization;
using System.Net;
using System.Text.Json;
using FastProxy.Forwarding;

namespace FastProxy.Configuration;

/// <summary>The outcome of reading the configuration: options, or every problem found.</summary>
internal sealed record ConfigurationResult(ProxyOptions? Options, IReadOnlyList<string> Errors)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// Reads <see cref="Settings"/> from command-line values (which win) and environment variables,
/// validates everything, and reports all problems at once, one line each, naming the variable or
/// flag and what to do.
/// </summary>
internal sealed class ConfigurationLoader
{
    private readonly IReadOnlyDictionary<Setting, string?> _flags;
    private readonly Func<string, string?> _environment;
    private readonly IReadOnlyList<string> _routeFlags;
    private readonly List<string> _errors = [];

    /// <param name="routeFlags">The values of the repeatable <c>--route</c> flag (<see cref="RouteFlags"/>), if any.</param>
    public ConfigurationLoader(IReadOnlyDictionary<Setting, string?> flags, Func<string, string?> environment, IReadOnlyList<string>? routeFlags = null)
    {
        _flags = flags;
        _environment = environment;
        _routeFlags = routeFlags ?? [];
    }

    public static ConfigurationResult FromEnvironment(IReadOnlyDictionary<Setting, string?>? flags = null, IReadOnlyList<string>? routeFlags = null) =>
        new ConfigurationLoader(flags ?? new Dictionary<Setting, string?>(), Environment.GetEnvironmentVariable, routeFlags).Load();

    public ConfigurationResult Load()
    {
        var cloud = ReadCloud();
        var identity = ReadIdentity(cloud);
        var routes = ReadRoutes(cloud, identity);
        var listenAddress = ReadListenAddress();
        var listeningPort = ReadInt(Settings.ListeningPort, 8081, 1, 65535);
        var h2cPort = ReadOptionalInt(Settings.H2cPort, 1, 65535);
        if (h2cPort is not null && h2cPort == listeningPort)
        {
            Error(Settings.H2cPort, $"is the same port as LISTENING_PORT ({listeningPort}); h2c needs a port of its own");
        }

        var options = new ProxyOptions
        {
            Routes = routes,
            RoutesFile = _routesFile,
            Identity = identity ?? new IdentityOptions(IdentityType.SystemAssigned, null),
            Cloud = cloud,
            WaitForToken = ReadWaitForToken(),
            ListenAddress = listenAddress,
            ListeningPort = listeningPort,
            H2cPort = h2cPort,
            RefreshPercentage = ReadInt(Settings.RefreshPercentage, 10, 1, 99),
            OverrideRequestHeaders = ReadOverrideHeaders(),
            UpstreamTimeout = ReadSeconds(Settings.UpstreamTimeout, 60),
            ConnectTimeout = ReadSeconds(Settings.ConnectTimeout, 10),
            MaxConnectionsPerServer = ReadInt(Settings.MaxConnectionsPerServer, 256, 1, 65535),
            PooledConnectionLifetime = ReadSeconds(Settings.PooledConnectionLifetime, 300),
            UpstreamHttp11Only = ReadUpstreamHttp11Only(),
            DrainTimeout = ReadSeconds(Settings.DrainTimeout, 25),
            InlineIoCompletions = ReadIoCompletions(),
            IoThreads = ReadOptionalInt(Settings.IoThreads, 1, 1024),
            OtelServiceName = Read(Settings.OtelServiceName) is { Length: > 0 } service ? service : "aad_auth_proxy",
            OtelGrpcEndpoint = ReadOtelEndpoint(),
            Telemetry = Telemetry.TelemetryOptions.Read(Read, Error),
            Security = Listener.SecurityOptions.Read(Read, Error),
            Upstream429As503 = ReadBool(Settings.Upstream429As503) ?? true,
            UpstreamAuthErrorsAs503 = ReadSecondsOrOff(Settings.UpstreamAuthErrorsAs503Seconds, 1800),
            Diagnostics = new Diagnostics.DiagnosticsOptions
            {
                SampleEvery = ReadInt(Settings.DiagnosticsSampleEvery, 0, 0, 1_000_000),
                Recent = ReadInt(Settings.DiagnosticsRecent, 20, 1, 1000),
                MaxBodyBytes = ReadInt(Settings.DiagnosticsMaxBodyBytes, 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
                TranslateV2ToV1 = ReadBool(Settings.TranslateRemoteWriteV2) ?? false,
            },
            LogLevel = ReadLogLevel(),
            LogFormat = ReadLogFormat(),
        };
        if (options.Security.Tls is not null && h2cPort is not null)
        {
            Error(Settings.H2cPort, "cannot be combined with TLS_CERT_FILE: the TLS port offers HTTP/2 itself (ALPN), and a cleartext port would bypass TLS; unset H2C_PORT");
        }

        return new ConfigurationResult(_errors.Count == 0 ? options : null, _errors);
    }

    private string? Read(Setting setting) => ReadWithSource(setting, out _);

    private string? ReadWithSource(Setting setting, out string source)
    {
        if (_flags.TryGetValue(setting, out var flagValue) && flagValue is not null)
        {
            source = setting.OptionName;
            return flagValue;
        }

        foreach (var name in setting.EnvironmentVariables)
        {
            var value = _environment(name);
            if (!string.IsNullOrWhiteSpace(value))
            {
                source = name;
                return value.Trim();
            }
        }

        source = setting.EnvironmentVariables[0];
        return null;
    }

    private void Error(Setting setting, string problem)
    {
        ReadWithSource(setting, out var source);
        _errors.Add($"{source} {problem}");
    }

    private AzureCloud ReadCloud()
    {
        var raw = Read(Settings.Cloud);
        if (raw is null)
        {
            return AzureCloud.Public;
        }

        if (AzureCloud.Parse(raw) is { } cloud)
        {
            return cloud;
        }

        Error(Settings.Cloud, $"'{raw}' is not a cloud; use AZUREPUBLIC, AZUREGOVERNMENT, AZURECHINA or AZURECUSTOM");
        return AzureCloud.Public;
    }

    /// <summary>
    /// AAD_HOST_ENDPOINT (the sidecar's name) or AZURE_AUTHORITY_HOST (what the workload identity
    /// webhook injects); a bare host means https. MSAL only talks to https authorities.
    /// </summary>
    private Uri? ReadAuthorityHost(AzureCloud cloud, bool needed)
    {
        var raw = Read(Settings.AuthorityHost);
        if (raw is null)
        {
            if (cloud.AuthorityHost is null && needed)
            {
                Error(Settings.AuthorityHost, $"is required when CLOUD is {cloud}: set it to your cloud's Entra authority host, e.g. https://login.example.cloud");
            }

            return cloud.AuthorityHost;
        }

        var text = raw.Contains("://", StringComparison.Ordinal) ? raw : "https://" + raw;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != "https" ||
            uri.AbsolutePath.Trim('/').Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            Error(Settings.AuthorityHost, $"'{raw}' is not an authority host; use https://host[:port] with no path, e.g. https://login.microsoftonline.us");
            return cloud.AuthorityHost;
        }

        return new Uri(uri.GetLeftPart(UriPartial.Authority) + "/");
    }

    private IdentityOptions? ReadIdentity(AzureCloud cloud)
    {
        var raw = Read(Settings.IdentityType);
        var clientId = Read(Settings.ClientId);
        var resourceId = Read(Settings.ResourceId);
        var objectId = Read(Settings.ObjectId);
        var certificatePath = Read(Settings.ClientCertificatePath);
        var secret = Read(Settings.ClientSecret);
        var secretFile = Read(Settings.ClientSecretFile);
        var tokenFile = Read(Settings.FederatedTokenFile);

        IdentityType type;
        string? defaultReason = null;
        switch (raw?.ToLowerInvariant())
        {
            case null or "default":
                (type, defaultReason) = ChooseDefault(clientId, resourceId, objectId, certificatePath, secret ?? secretFile, tokenFile);
                break;
            case "systemassigned":
                type = IdentityType.SystemAssigned;
                break;
            case "userassigned":
                type = IdentityType.UserAssigned;
                break;
            case "aadapplication":
                type = IdentityType.AadApplication;
                break;
            case "workloadidentity":
                type = IdentityType.WorkloadIdentity;
                break;
            case "azurecli":
                type = IdentityType.AzureCli;
                break;
            default:
                Error(Settings.IdentityType, $"'{raw}' is not an identity type; use systemassigned, userassigned, aadapplication, workloadidentity, azurecli or default");
                return null;
        }

        var talksToEntra = type is IdentityType.AadApplication or IdentityType.WorkloadIdentity or IdentityType.AzureCli;
        var authorityHost = ReadAuthorityHost(cloud, needed: type is IdentityType.AadApplication or IdentityType.WorkloadIdentity);
        var disableDiscovery = ReadBool(Settings.DisableInstanceDiscovery) ??
                               (authorityHost is not null && !AzureCloud.IsWellKnownAuthorityHost(authorityHost));
        var identity = new IdentityOptions(type, null)
        {
            Cloud = cloud,
            AuthorityHost = authorityHost ?? AzureCloud.Public.AuthorityHost!,
            DisableInstanceDiscovery = talksToEntra && disableDiscovery,
            DefaultReason = defaultReason,
        };

        var errorsBefore = _errors.Count;
        identity = type switch
        {
            IdentityType.UserAssigned => ReadUserAssigned(identity, clientId, resourceId, objectId),
            IdentityType.AadApplication => ReadApplication(identity, clientId, certificatePath, secret, secretFile),
            IdentityType.WorkloadIdentity => ReadWorkloadIdentity(identity, clientId, tokenFile),
            IdentityType.AzureCli => identity with { TenantId = ReadTenantId(required: false) },
            _ => identity,
        };

        return _errors.Count == errorsBefore ? identity : null;
    }

    /// <summary>
    /// IDENTITY_TYPE unset or 'default': the identity the environment clearly describes, decided
    /// once at start-up and logged, rather than a chain tried on every fetch: a chain hides which
    /// identity failed and probes IMDS on hosts that have none.
    /// </summary>
    private static (IdentityType Type, string Reason) ChooseDefault(string? clientId, string? resourceId, string? objectId,
        string? certificatePath, string? secret, string? tokenFile)
    {
        if (tokenFile is not null)
        {
            return (IdentityType.WorkloadIdentity, "AZURE_FEDERATED_TOKEN_FILE is set");
        }

        if (certificatePath is not null || secret is not null)
        {
            return (IdentityType.AadApplication, certificatePath is not null ? "a client certificate is set" : "a client secret is set");
        }

        if (clientId is not null || resourceId is not null || objectId is not null)
        {
            return (IdentityType.UserAssigned, "a managed identity id is set");
        }

        return (IdentityType.SystemAssigned, "no identity settings are set");
    }

    private IdentityOptions ReadUserAssigned(IdentityOptions identity, string? clientId, string? resourceId, string? objectId)
    {
        // A resource id in AAD_CLIENT_ID is accepted: operators copy whichever id the portal shows.
        if (clientId is not null && clientId.StartsWith('/'))
        {
            if (resourceId is not null)
            {
                Error(Settings.ResourceId, "and a resource id in AAD_CLIENT_ID are both set; set the resource id once");
                return identity;
            }

            (resourceId, clientId) = (clientId, null);
        }

        var given = (clientId is null ? 0 : 1) + (resourceId is null ? 0 : 1) + (objectId is null ? 0 : 1);
        if (given == 0)
        {
            Error(Settings.ClientId, "is required when IDENTITY_TYPE is userassigned: set it to the managed identity's client id (or set AAD_RESOURCE_ID or AAD_OBJECT_ID)");
            return identity;
        }

        if (given > 1)
        {
            Error(resourceId is not null ? Settings.ResourceId : Settings.ObjectId,
                "selects the managed identity, and so does another of AAD_CLIENT_ID, AAD_RESOURCE_ID and AAD_OBJECT_ID; set only one");
            return identity;
        }

        if (clientId is not null)
        {
            return RequireGuid(Settings.ClientId, clientId, "client id") ? identity with { ClientId = clientId } : identity;
        }

        if (objectId is not null)
        {
            return RequireGuid(Settings.ObjectId, objectId, "object id") ? identity with { ObjectId = objectId } : identity;
        }

        if (!IsManagedIdentityResourceId(resourceId!))
        {
            Error(clientId is null && Read(Settings.ResourceId) is null ? Settings.ClientId : Settings.ResourceId,
                $"'{resourceId}' is not a managed identity resource id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)");
            return identity;
        }

        return identity with { ResourceId = resourceId };
    }

    internal static bool IsManagedIdentityResourceId(string value)
    {
        var parts = value.Split('/');
        // "", subscriptions, <id>, resourceGroups, <group>, providers, Microsoft.ManagedIdentity, userAssignedIdentities, <name>
        return parts.Length == 9 && parts[0].Length == 0 &&
               parts[1].Equals("subscriptions", StringComparison.OrdinalIgnoreCase) && parts[2].Length > 0 &&
               parts[3].Equals("resourceGroups", StringComparison.OrdinalIgnoreCase) && parts[4].Length > 0 &&
               parts[5].Equals("providers", StringComparison.OrdinalIgnoreCase) &&
               parts[6].Equals("Microsoft.ManagedIdentity", StringComparison.OrdinalIgnoreCase) &&
               parts[7].Equals("userAssignedIdentities", StringComparison.OrdinalIgnoreCase) && parts[8].Length > 0;
    }

    private IdentityOptions ReadApplication(IdentityOptions identity, string? clientId, string? certificatePath, string? secret, string? secretFile)
    {
        identity = identity with
        {
            ClientId = ReadApplicationClientId(clientId, "aadapplication", "the app registration's application (client) id"),
            TenantId = ReadTenantId(required: true, "aadapplication"),
        };

        var password = ReadSecret(Settings.ClientCertificatePassword, Settings.ClientCertificatePasswordFile);
        var sendChain = ReadBool(Settings.SendCertificateChain) ?? false;
        var errorsBefore = _errors.Count;
        var clientSecret = ReadSecret(Settings.ClientSecret, Settings.ClientSecretFile);
        if (_errors.Count > errorsBefore)
        {
            return identity;
        }

        if (certificatePath is not null && (secret is not null || secretFile is not null))
        {
            Error(secretFile is not null ? Settings.ClientSecretFile : Settings.ClientSecret,
                "and AAD_CLIENT_CERTIFICATE_PATH are both set; an application authenticates with one of them");
            return identity;
        }

        if (certificatePath is null)
        {
            if (clientSecret is null)
            {
                Error(Settings.ClientCertificatePath, "is required when IDENTITY_TYPE is aadapplication: set it to a PFX or PEM certificate file (or set AAD_CLIENT_SECRET_FILE for a client secret)");
            }
            else if (password is not null || sendChain)
            {
                Error(password is not null ? Settings.ClientCertificatePassword : Settings.SendCertificateChain,
                    "applies to a certificate, but the application uses a client secret; remove it");
            }

            return identity with { ClientSecret = clientSecret };
        }

        return identity with { CertificatePath = certificatePath, CertificatePassword = password, SendCertificateChain = sendChain };
    }

    private IdentityOptions ReadWorkloadIdentity(IdentityOptions identity, string? clientId, string? tokenFile)
    {
        if (tokenFile is null)
        {
            Error(Settings.FederatedTokenFile, "is required when IDENTITY_TYPE is workloadidentity; label the pod azure.workload.identity/use: \"true\" so the webhook sets it, or set it to the projected service account token's path");
        }

        return identity with
        {
            ClientId = ReadApplicationClientId(clientId, "workloadidentity", "the client id of the identity federated with the service account"),
            TenantId = ReadTenantId(required: true, "workloadidentity"),
            FederatedTokenFile = tokenFile,
        };
    }

    private string? ReadApplicationClientId(string? clientId, string type, string what)
    {
        if (clientId is null)
        {
            Error(Settings.ClientId, $"is required when IDENTITY_TYPE is {type}: set it to {what}");
            return null;
        }

        return RequireGuid(Settings.ClientId, clientId, "client id") ? clientId : null;
    }

    private string? ReadTenantId(bool required, string? type = null)
    {
        var tenant = Read(Settings.TenantId);
        if (tenant is null)
        {
            if (required)
            {
                Error(Settings.TenantId, $"is required when IDENTITY_TYPE is {type}: set it to the directory (tenant) id");
            }

            return null;
        }

        // Entra accepts a GUID or a verified domain; Azure.Identity refuses other characters.
        if (!tenant.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            Error(Settings.TenantId, $"'{tenant}' is not a tenant id (a GUID, or a domain such as contoso.onmicrosoft.com)");
            return null;
        }

        return tenant;
    }

    private bool RequireGuid(Setting setting, string value, string what)
    {
        if (Guid.TryParse(value, out _))
        {
            return true;
        }

        var article = "aeiou".Contains(what[0], StringComparison.Ordinal) ? "an" : "a";
        Error(setting, $"'{value}' is not {article} {what} (a GUID such as abcd1234-1243-abcd-9876-1234abcd5678)");
        return false;
    }

    /// <summary>A secret given as a value or as a file, not both. The value itself never appears in an error.</summary>
    private SecretSource? ReadSecret(Setting valueSetting, Setting fileSetting)
    {
        var value = ReadWithSource(valueSetting, out var valueSource);
        var file = ReadWithSource(fileSetting, out var fileSource);
        if (value is not null && file is not null)
        {
            Error(fileSetting, $"and {valueSource} are both set; give the secret one way (the file is better: it can change without a restart)");
            return null;
        }

        return file is not null ? SecretSource.FromFile(file, fileSource)
            : value is not null ? SecretSource.FromValue(value, valueSource)
            : null;
    }

    private bool? ReadBool(Setting setting)
    {
        var raw = Read(setting);
        if (raw is null)
        {
            return null;
        }

        if (SettingValues.TryParseBool(raw, out var value))
        {
            return value;
        }

        Error(setting, $"'{raw}' is not true or false");
        return null;
    }

    private List<RouteDefinition> ReadRoutes(AzureCloud cloud, IdentityOptions? identity)
    {
        var targetHost = Read(Settings.TargetHost);
        var ingestionUrl = Read(Settings.IngestionUrl);
        var audience = Read(Settings.Audience);
        if (_routeFlags.Count > 0)
        {
            if (Read(Settings.RoutesFile) is not null)
            {
                Error(Settings.RoutesFile, $"and {RouteFlags.OptionName} are both set; give the routes in the file or as {RouteFlags.OptionName} flags, not both");
            }

            return ReadRouteFlags(cloud, identity, targetHost is not null, ingestionUrl is not null, audience is not null);
        }

        if (Read(Settings.RoutesFile) is { } routesFile)
        {
            return ReadRoutesFile(routesFile, cloud, identity, targetHost is not null, ingestionUrl is not null, audience is not null);
        }

        if (targetHost is not null && ingestionUrl is not null)
        {
            Error(Settings.IngestionUrl, "and TARGET_HOST are both set; set only one (TARGET_HOST as aad-auth-proxy, or INGESTION_URL as the remote-write sidecar)");
            return [];
        }

        if (targetHost is null && ingestionUrl is null)
        {
            Error(Settings.TargetHost, "is not set; set TARGET_HOST to the workspace's ingestion or query endpoint (or INGESTION_URL to the full ingestion URL)");
            return [];
        }

        string? parseError;
        var target = targetHost is not null
            ? TargetAddress.ParseTargetHost(targetHost, out parseError)
            : TargetAddress.ParseIngestionUrl(ingestionUrl!, out parseError);
        if (target is null)
        {
            Error(targetHost is not null ? Settings.TargetHost : Settings.IngestionUrl, parseError!);
            return [];
        }

        string? scope;
        if (audience is not null)
        {
            scope = Audience.ToScope(audience, out var audienceError);
            if (scope is null)
            {
                Error(Settings.Audience, audienceError!);
                return [];
            }
        }
        else
        {
            scope = Audience.DefaultFor(target, cloud, out var defaultError);
            if (scope is null)
            {
                Error(targetHost is not null ? Settings.TargetHost : Settings.IngestionUrl, defaultError!);
                return [];
            }
        }

        if (targetHost is not null)
        {
            return [new RouteDefinition("default", null, target, scope)];
        }

        // The sidecar accepted Prometheus' /api/v1/write and posted it to the full ingestion URL;
        // other paths go to the same host unchanged rather than failing.
        var origin = TargetAddress.ParseTargetHost(target.Origin, out _)!;
        return
        [
            new RouteDefinition("ingestion", "/api/v1/write", target, scope),
            new RouteDefinition("default", null, origin, scope),
        ];
    }

    // Where ROUTES_FILE's routes came from, for ProxyOptions.RoutesFile (read again while running).
    private RoutesFileSource? _routesFile;

    /// <summary>
    /// ROUTES_FILE: every route, target and audience comes from the file, so the single-target
    /// settings beside it would be ambiguous and are errors. Routes without an identity use the
    /// process identity (IDENTITY_TYPE etc.); route identities share its cloud and authority host.
    /// </summary>
    private List<RouteDefinition> ReadRoutesFile(string path, AzureCloud cloud, IdentityOptions? identity, bool targetHost, bool ingestionUrl, bool audience)
    {
        RejectSingleTargetSettings(problem => Error(Settings.RoutesFile, problem), "a routes file", "in the file", targetHost, ingestionUrl, audience);
        // The file is read even after a conflict above, so that all its problems show at once.
        var context = RoutesContext(cloud, identity);
        _routesFile = new RoutesFileSource(path, context);
        return RoutesFile.Read(path, context, problem => Error(Settings.RoutesFile, problem));
    }

    /// <summary>--route: the routes file's form on the command line, with the same rules.</summary>
    private List<RouteDefinition> ReadRouteFlags(AzureCloud cloud, IdentityOptions? identity, bool targetHost, bool ingestionUrl, bool audience)
    {
        void Report(string problem) => _errors.Add($"{RouteFlags.OptionName} {problem}");
        RejectSingleTargetSettings(Report, $"{RouteFlags.OptionName} flags", $"in the {RouteFlags.OptionName} flags", targetHost, ingestionUrl, audience);
        return RouteFlags.ToJson(_routeFlags, problem => _errors.Add(problem)) is { } json
            ? RoutesFile.Parse(json, "", RoutesContext(cloud, identity), Report, routeAt: index => $"#{index + 1}")
            : [];
    }

    /// <summary>With several routes every target and audience is given per route, so the single-target settings beside them are errors.</summary>
    private static void RejectSingleTargetSettings(Action<string> report, string form, string where, bool targetHost, bool ingestionUrl, bool audience)
    {
        if (targetHost || ingestionUrl)
        {
            report($"and {(targetHost ? "TARGET_HOST" : "INGESTION_URL")} are both set; with {form} every target is {where}, so remove {(targetHost ? "TARGET_HOST" : "INGESTION_URL")}");
        }

        if (audience)
        {
            report($"and AUDIENCE are both set; with {form} give each route its \"audience\" (or leave it out for the default) and remove AUDIENCE");
        }
    }

    /// <summary>What a route's identity inherits from the process settings.</summary>
    private RoutesFileContext RoutesContext(AzureCloud cloud, IdentityOptions? identity)
    {
        var authorityHost = Read(Settings.AuthorityHost) is null ? cloud.AuthorityHost : identity?.AuthorityHost;
        var discovery = Read(Settings.DisableInstanceDiscovery) is { } raw && SettingValues.TryParseBool(raw, out var disable)
            ? disable
            : authorityHost is not null && !AzureCloud.IsWellKnownAuthorityHost(authorityHost);
        return new RoutesFileContext(cloud, authorityHost, discovery, Read(Settings.TenantId), Read(Settings.FederatedTokenFile));
    }

    private IPAddress ReadListenAddress()
    {
        var raw = Read(Settings.ListenAddress);
        switch (raw)
        {
            case null or "*" or "0.0.0.0" or "::" or "[::]":
                return IPAddress.IPv6Any;
            case "localhost":
                return IPAddress.Loopback;
        }

        if (IPAddress.TryParse(raw.Trim('[', ']'), out var address))
        {
            return address;
        }

        Error(Settings.ListenAddress, $"'{raw}' is not an IP address; use * (all interfaces), 127.0.0.1 or an interface address");
        return IPAddress.IPv6Any;
    }

    private int ReadInt(Setting setting, int defaultValue, int min, int max) =>
        ReadOptionalInt(setting, min, max) ?? defaultValue;

    private int? ReadOptionalInt(Setting setting, int min, int max)
    {
        var raw = Read(setting);
        if (raw is null)
        {
            return null;
        }

        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            Error(setting, $"'{raw}' is not a whole number from {min} to {max}");
            return null;
        }

        return value;
    }

    private TimeSpan ReadWaitForToken()
    {
        var raw = Read(Settings.WaitForToken);
        if (raw is null)
        {
            return TimeSpan.Zero;
        }

        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ||
            !double.IsFinite(seconds) || seconds < 0 || seconds > 3600)
        {
            Error(Settings.WaitForToken, $"'{raw}' is not a number of seconds from 0 to 3600");
            return TimeSpan.Zero;
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private TimeSpan ReadSeconds(Setting setting, double defaultSeconds)
    {
        var raw = Read(setting);
        if (raw is null)
        {
            return TimeSpan.FromSeconds(defaultSeconds);
        }

        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ||
            !double.IsFinite(seconds) || seconds <= 0 || seconds > 86_400)
        {
            Error(setting, $"'{raw}' is not a number of seconds above 0 and at most 86400");
            return TimeSpan.FromSeconds(defaultSeconds);
        }

        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Like <see cref="ReadSeconds"/>, with 0 meaning off; the message says so.</summary>
    private TimeSpan ReadSecondsOrOff(Setting setting, double defaultSeconds)
    {
        var raw = Read(setting);
        if (raw is null)
        {
            return TimeSpan.FromSeconds(defaultSeconds);
        }

        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ||
            !double.IsFinite(seconds) || seconds < 0 || seconds > 86_400)
        {
            Error(setting, $"'{raw}' is not a number of seconds from 0 (off) to 86400");
            return TimeSpan.FromSeconds(defaultSeconds);
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private List<KeyValuePair<string, string>> ReadOverrideHeaders()
    {
        var raw = Read(Settings.OverrideRequestHeaders);
        var headers = new List<KeyValuePair<string, string>>();
        if (raw is null)
        {
            return headers;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(raw);
        }
        catch (JsonException ex)
        {
            // The value may hold keys, so the message gives the parser's position, not the text.
            Error(Settings.OverrideRequestHeaders, $"is not valid JSON at {SettingValues.DescribeJsonError(ex)}; use an object such as {{\"x-header\":\"value\"}}");
            return headers;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                Error(Settings.OverrideRequestHeaders, "must be a JSON object of header names to string values");
                return headers;
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                var name = property.Name;
                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    Error(Settings.OverrideRequestHeaders, $"header '{name}' must have a string value");
                    continue;
                }

                var value = property.Value.GetString()!;
                if (!HeaderRules.IsValidHeaderName(name))
                {
                    Error(Settings.OverrideRequestHeaders, $"'{name}' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)");
                }
                else if (HeaderRules.IsReservedForProxy(name))
                {
                    Error(Settings.OverrideRequestHeaders, $"header '{name}' cannot be overridden: FastProxy sets it itself");
                }
                else if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                {
                    Error(Settings.OverrideRequestHeaders, $"value of header '{name}' contains CR, LF or NUL, which would split the request; remove them");
                }
                else
                {
                    headers.Add(new(name, value));
                }
            }
        }

        return headers;
    }

    private string? ReadOtelEndpoint()
    {
        var raw = Read(Settings.OtelGrpcEndpoint);
        if (raw is null)
        {
            return null;
        }

        // aad-auth-proxy's examples write host:port without a scheme.
        var text = raw.Contains("://", StringComparison.Ordinal) ? raw : "http://" + raw;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            Error(Settings.OtelGrpcEndpoint, $"'{raw}' is not an endpoint; use host:port or http://host:port");
            return null;
        }

        return uri.ToString();
    }

    private Microsoft.Extensions.Logging.LogLevel ReadLogLevel()
    {
        var raw = Read(Settings.LogLevel);
        if (raw is null)
        {
            return Microsoft.Extensions.Logging.LogLevel.Information;
        }

        switch (raw.ToLowerInvariant())
        {
            case "trace": return Microsoft.Extensions.Logging.LogLevel.Trace;
            case "debug": return Microsoft.Extensions.Logging.LogLevel.Debug;
            case "information" or "info": return Microsoft.Extensions.Logging.LogLevel.Information;
            case "warning" or "warn": return Microsoft.Extensions.Logging.LogLevel.Warning;
            case "error": return Microsoft.Extensions.Logging.LogLevel.Error;
            default:
                Error(Settings.LogLevel, $"'{raw}' is not a log level; use trace, debug, information, warning or error");
                return Microsoft.Extensions.Logging.LogLevel.Information;
        }
    }

    private bool ReadIoCompletions()
    {
        var raw = Read(Settings.IoCompletions);
        switch (raw?.ToLowerInvariant())
        {
            case null or "inline": return true;
            case "threadpool": return false;
            default:
                Error(Settings.IoCompletions, $"'{raw}' is not an I/O completion mode; use inline or threadpool");
                return true;
        }
    }

    private bool ReadUpstreamHttp11Only()
    {
        var raw = Read(Settings.UpstreamHttpVersion);
        switch (raw)
        {
            case null or "2" or "2.0": return false;
            case "1.1": return true;
            default:
                Error(Settings.UpstreamHttpVersion, $"'{raw}' is not an upstream HTTP version; use 2 (HTTP/2 where an https target offers it) or 1.1");
                return false;
        }
    }

    private LogFormat ReadLogFormat()
    {
        var raw = Read(Settings.LogFormat);
        switch (raw?.ToLowerInvariant())
        {
            case null: return Console.IsOutputRedirected ? LogFormat.Json : LogFormat.Text;
            case "json": return LogFormat.Json;
            case "text": return LogFormat.Text;
            default:
                Error(Settings.LogFormat, $"'{raw}' is not a log format; use json or text");
                return LogFormat.Json;
        }
    }
}
