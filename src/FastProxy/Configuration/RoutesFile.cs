using System.Text.Json;

namespace FastProxy.Configuration;

/// <summary>What a route's identity inherits from the process settings (cloud, authority, defaults).</summary>
internal sealed record RoutesFileContext(AzureCloud Cloud, Uri? AuthorityHost, bool DisableInstanceDiscovery,
    string? DefaultTenantId = null, string? DefaultFederatedTokenFile = null);

/// <summary>A routes file and what its identities inherit: all it takes to read the file again.</summary>
internal sealed record RoutesFileSource(string Path, RoutesFileContext Context);

/// <summary>
/// Reads ROUTES_FILE: several routes, each with its own path, target, audience and optionally
/// identity. <see cref="JsonDocument"/> rather than a serializer: native AOT needs no reflection,
/// and walking the document lets every unknown field and every bad value be reported, one line
/// each, naming the route and the field.
/// </summary>
/// <example>
/// {"routes":[
///   {"name":"ingestion","pathPrefix":"/dataCollectionRules/","target":"https://x.metrics.ingest.monitor.azure.com","audience":"https://monitor.azure.com"},
///   {"name":"query","pathPrefix":"/api/v1/","target":"https://x.prometheus.monitor.azure.com","identity":{"type":"userassigned","clientId":"…"}}]}
/// </example>
internal static class RoutesFile
{
    /// <summary>Larger than any sensible routes file; a guard against pointing at the wrong file.</summary>
    internal const int MaxBytes = 1024 * 1024;

    private static readonly string[] RootFields = ["routes"];
    private static readonly string[] RouteFields = ["name", "pathPrefix", "path", "target", "audience", "identity"];
    private static readonly string[] IdentityFields =
    [
        "type", "clientId", "resourceId", "objectId", "tenantId", "certificatePath", "certificatePasswordFile",
        "sendCertificateChain", "clientSecretFile", "federatedTokenFile",
    ];

    /// <summary>Reads and validates the file; every problem goes to <paramref name="error"/> (one line, without the variable name).</summary>
    public static List<RouteDefinition> Read(string path, RoutesFileContext context, Action<string> error) =>
        ReadBytes(path, error) is { } bytes ? FromBytes(bytes, path, context, error) : [];

    /// <summary>The file's content, or null after saying why it cannot be read.</summary>
    public static byte[]? ReadBytes(string path, Action<string> error)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                error(Directory.Exists(path)
                    ? $"'{path}' is a directory; give the routes file's path"
                    : $"file '{path}' does not exist; check the path and that the volume holding it (ConfigMap) is mounted");
                return null;
            }

            if (info.Length > MaxBytes)
            {
                error($"file '{path}' is {info.Length} bytes; a routes file is at most {MaxBytes} bytes");
                return null;
            }

            return File.ReadAllBytes(path);
        }
        // Own words: the shipped build carries no framework message texts.
        catch (Exception ex) when (ex is UnauthorizedAccessException or System.Security.SecurityException)
        {
            error($"file '{path}' cannot be read by this user; check the file's mode and the pod's fsGroup");
            return null;
        }
        catch (IOException)
        {
            error($"file '{path}' cannot be read; check that it is a regular file on a mounted volume");
            return null;
        }
    }

    /// <summary>Validates the content of the routes file at <paramref name="path"/>, YAML or JSON by its name.</summary>
    public static List<RouteDefinition> FromBytes(byte[] bytes, string path, RoutesFileContext context, Action<string> error)
    {
        if (YamlRoutes.IsYamlPath(path))
        {
            return YamlRoutes.ToJson(bytes, path, error) is { } json ? Parse(json, path, context, error, fromYaml: true) : [];
        }

        return Parse(bytes, path, context, error);
    }

    /// <summary>
    /// Validates routes-file JSON; <paramref name="origin"/> names it in messages, and
    /// <paramref name="fromYaml"/> says the JSON came from <see cref="YamlRoutes"/>, for the one
    /// message that names the file's shape.
    /// </summary>
    /// <param name="routeAt">How messages name the route at an index; default <c>routes[i]</c>, after the origin unless that is empty.</param>
    public static List<RouteDefinition> Parse(ReadOnlyMemory<byte> json, string origin, RoutesFileContext context, Action<string> error, bool fromYaml = false,
        Func<int, string>? routeAt = null)
    {
        routeAt ??= index => $"routes[{index}]";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            error($"'{origin}' is not valid JSON at {SettingValues.DescribeJsonError(ex)}");
            return [];
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error(fromYaml
                    ? $"'{origin}' must hold a mapping whose \"routes:\" is a list of routes"
                    : $"'{origin}' must hold a JSON object {{\"routes\":[…]}}");
                return [];
            }

            RejectUnknown(root, RootFields, $"'{origin}'", error);
            if (!root.TryGetProperty("routes", out var routesElement) || routesElement.ValueKind != JsonValueKind.Array || routesElement.GetArrayLength() == 0)
            {
                error($"'{origin}' must have \"routes\": a non-empty array of routes");
                return [];
            }

            var routes = new List<RouteDefinition>();
            var names = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var paths = new Dictionary<string, int>(StringComparer.Ordinal);
            var index = 0;
            foreach (var element in routesElement.EnumerateArray())
            {
                var where = origin.Length == 0 ? routeAt(index) : $"'{origin}' {routeAt(index)}";
                var route = ReadRoute(element, where, context, error);
                if (route is not null)
                {
                    where += $" (\"{route.Name}\")";
                    if (names.TryGetValue(route.Name, out var other))
                    {
                        error($"{where}: name \"{route.Name}\" is also the name of {routeAt(other)}; names must be unique");
                        route = null;
                    }
                    else
                    {
                        names[route.Name] = index;
                    }

                    var key = route?.ExactPath is { } exact ? "path " + exact : route?.PathPrefix is { } prefix ? "pathPrefix " + prefix : null;
                    if (key is not null && paths.TryGetValue(key, out other))
                    {
                        error($"{where}: {key.Replace(" ", " \"", StringComparison.Ordinal)}\" is also that of {routeAt(other)}; each request must have one route");
                        route = null;
                    }
                    else if (key is not null)
                    {
                        paths[key] = index;
                    }

                    if (route is not null)
                    {
                        routes.Add(route);
                    }
                }

                index++;
            }

            return routes;
        }
    }

    private static RouteDefinition? ReadRoute(JsonElement element, string where, RoutesFileContext context, Action<string> error)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            error($"{where} must be an object with name, pathPrefix (or path) and target");
            return null;
        }

        var ok = RejectUnknown(element, RouteFields, where, error);
        var nameOk = true;
        var name = String(element, "name", where, error, ref nameOk);
        ok &= nameOk;
        if (name is null)
        {
            if (nameOk)
            {
                error($"{where} has no \"name\"; name every route (it labels metrics and logs)");
            }

            ok = false;
        }
        else if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            error($"{where}: name \"{name}\" must be 1-64 letters, digits, '-', '_' or '.'");
            ok = false;
        }
        else
        {
            where += $" (\"{name}\")";
        }

        var prefix = String(element, "pathPrefix", where, error, ref ok);
        var exact = String(element, "path", where, error, ref ok);
        if (prefix is not null && exact is not null)
        {
            error($"{where} has both \"pathPrefix\" and \"path\"; a route matches by one of them");
            ok = false;
            exact = null;
        }
        else if (prefix is null && exact is null)
        {
            error($"{where} has neither \"pathPrefix\" (e.g. \"/\" for every path) nor \"path\" (one exact path)");
            ok = false;
        }
        else if (!IsValidPath(prefix ?? exact!))
        {
            error($"{where}: {(prefix is not null ? "pathPrefix" : "path")} \"{prefix ?? exact}\" must start with '/' and contain no '?', '#', spaces or control characters");
            ok = false;
        }

        var targetOk = true;
        var targetText = String(element, "target", where, error, ref targetOk);
        ok &= targetOk;
        TargetAddress? target = null;
        if (targetText is null)
        {
            if (targetOk)
            {
                error($"{where} has no \"target\"; give the workspace's endpoint, e.g. https://myworkspace.eastus.prometheus.monitor.azure.com");
            }

            ok = false;
        }
        else
        {
            // A prefix route appends the client's path to the target (as TARGET_HOST); an exact
            // route replaces it with the target's full URL (as INGESTION_URL).
            target = exact is not null
                ? TargetAddress.ParseIngestionUrl(targetText, out var parseError)
                : TargetAddress.ParseTargetHost(targetText, out parseError);
            if (target is null)
            {
                error($"{where}: target {parseError}");
                ok = false;
            }
        }

        string? scope = null;
        var audience = String(element, "audience", where, error, ref ok);
        if (audience is not null)
        {
            scope = Audience.ToScope(audience, out var audienceError);
            if (scope is null)
            {
                error($"{where}: audience {audienceError}");
                ok = false;
            }
        }
        else if (target is not null)
        {
            scope = Audience.DefaultFor(target, context.Cloud, out var defaultError);
            if (scope is null)
            {
                error($"{where}: target {defaultError!.Replace("(or AUDIENCE)", "(or the route's \"audience\")", StringComparison.Ordinal).Replace("set AUDIENCE (or INGESTION_AAD_AUDIENCE)", "set the route's \"audience\"", StringComparison.Ordinal)}");
                ok = false;
            }
        }

        IdentityOptions? identity = null;
        if (element.TryGetProperty("identity", out var identityElement) && identityElement.ValueKind != JsonValueKind.Null)
        {
            identity = ReadIdentity(identityElement, where + " identity", context, error);
            ok &= identity is not null;
        }

        if (!ok)
        {
            return null;
        }

        return new RouteDefinition(name!, exact, target!, scope!) { PathPrefix = prefix, Identity = identity };
    }

    private static IdentityOptions? ReadIdentity(JsonElement element, string where, RoutesFileContext context, Action<string> error)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            error($"{where} must be an object such as {{\"type\":\"userassigned\",\"clientId\":\"…\"}}");
            return null;
        }

        var ok = RejectUnknown(element, IdentityFields, where, error);
        var typeText = String(element, "type", where, error, ref ok);
        IdentityType type;
        switch (typeText?.ToLowerInvariant())
        {
            case null:
                error($"{where} has no \"type\"; use systemassigned, userassigned, aadapplication, workloadidentity or azurecli");
                return null;
            case "systemassigned": type = IdentityType.SystemAssigned; break;
            case "userassigned": type = IdentityType.UserAssigned; break;
            case "aadapplication": type = IdentityType.AadApplication; break;
            case "workloadidentity": type = IdentityType.WorkloadIdentity; break;
            case "azurecli": type = IdentityType.AzureCli; break;
            default:
                error($"{where}: type \"{typeText}\" is not an identity type; use systemassigned, userassigned, aadapplication, workloadidentity or azurecli");
                return null;
        }

        var clientId = String(element, "clientId", where, error, ref ok);
        var resourceId = String(element, "resourceId", where, error, ref ok);
        var objectId = String(element, "objectId", where, error, ref ok);
        var tenantId = String(element, "tenantId", where, error, ref ok);
        var certificatePath = String(element, "certificatePath", where, error, ref ok);
        var passwordFile = String(element, "certificatePasswordFile", where, error, ref ok);
        var secretFile = String(element, "clientSecretFile", where, error, ref ok);
        var tokenFile = String(element, "federatedTokenFile", where, error, ref ok);
        bool? sendChain = null;
        if (element.TryGetProperty("sendCertificateChain", out var chainElement))
        {
            if (chainElement.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                sendChain = chainElement.GetBoolean();
            }
            else
            {
                error($"{where}: sendCertificateChain must be true or false");
                ok = false;
            }
        }

        // Fields that do not apply to the type are mistakes, not silently ignored.
        string[] applies = type switch
        {
            IdentityType.UserAssigned => ["clientId", "resourceId", "objectId"],
            IdentityType.AadApplication => ["clientId", "tenantId", "certificatePath", "certificatePasswordFile", "sendCertificateChain", "clientSecretFile"],
            IdentityType.WorkloadIdentity => ["clientId", "tenantId", "federatedTokenFile"],
            IdentityType.AzureCli => ["tenantId"],
            _ => [],
        };
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name != "type" && IdentityFields.Contains(property.Name, StringComparer.Ordinal) && !applies.Contains(property.Name, StringComparer.Ordinal))
            {
                error($"{where}: {property.Name} does not apply to type {typeText!.ToLowerInvariant()}; remove it");
                ok = false;
            }
        }

        if (!ok)
        {
            return null;
        }

        var talksToEntra = type is IdentityType.AadApplication or IdentityType.WorkloadIdentity or IdentityType.AzureCli;
        if (type is IdentityType.AadApplication or IdentityType.WorkloadIdentity && context.AuthorityHost is null)
        {
            error($"{where}: type {typeText!.ToLowerInvariant()} needs an authority host when CLOUD is {context.Cloud}; set AAD_HOST_ENDPOINT");
            return null;
        }

        var identity = new IdentityOptions(type, null)
        {
            Cloud = context.Cloud,
            AuthorityHost = context.AuthorityHost ?? AzureCloud.Public.AuthorityHost!,
            DisableInstanceDiscovery = talksToEntra && context.DisableInstanceDiscovery,
        };

        switch (type)
        {
            case IdentityType.UserAssigned:
                if (clientId is not null && clientId.StartsWith('/') && resourceId is null)
                {
                    (resourceId, clientId) = (clientId, null);
                }

                var given = (clientId is null ? 0 : 1) + (resourceId is null ? 0 : 1) + (objectId is null ? 0 : 1);
                if (given != 1)
                {
                    error($"{where}: userassigned needs exactly one of clientId, resourceId and objectId");
                    return null;
                }

                if (clientId is not null)
                {
                    return Guid(clientId, "clientId", where, error) ? identity with { ClientId = clientId } : null;
                }

                if (objectId is not null)
                {
                    return Guid(objectId, "objectId", where, error) ? identity with { ObjectId = objectId } : null;
                }

                if (!ConfigurationLoader.IsManagedIdentityResourceId(resourceId!))
                {
                    error($"{where}: resourceId '{resourceId}' is not a managed identity resource id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)");
                    return null;
                }

                return identity with { ResourceId = resourceId };

            case IdentityType.AadApplication:
            case IdentityType.WorkloadIdentity:
                tenantId ??= context.DefaultTenantId;
                ok = true;
                if (clientId is null)
                {
                    error($"{where}: {typeText!.ToLowerInvariant()} needs clientId");
                    ok = false;
                }
                else
                {
                    ok &= Guid(clientId, "clientId", where, error);
                }

                if (tenantId is null)
                {
                    error($"{where}: {typeText!.ToLowerInvariant()} needs tenantId (or set AAD_TENANT_ID for every route)");
                    ok = false;
                }
                else
                {
                    ok &= Tenant(tenantId, where, error);
                }

                identity = identity with { ClientId = clientId, TenantId = tenantId };
                if (type == IdentityType.WorkloadIdentity)
                {
                    tokenFile ??= context.DefaultFederatedTokenFile;
                    if (tokenFile is null)
                    {
                        error($"{where}: workloadidentity needs federatedTokenFile (or AZURE_FEDERATED_TOKEN_FILE, which the workload identity webhook sets)");
                        ok = false;
                    }

                    return ok ? identity with { FederatedTokenFile = tokenFile } : null;
                }

                if ((certificatePath is null) == (secretFile is null))
                {
                    error($"{where}: aadapplication needs exactly one of certificatePath and clientSecretFile");
                    return null;
                }

                if (secretFile is not null && (passwordFile is not null || sendChain is not null))
                {
                    error($"{where}: {(passwordFile is not null ? "certificatePasswordFile" : "sendCertificateChain")} applies to a certificate, but the application uses a client secret; remove it");
                    return null;
                }

                if (!ok)
                {
                    return null;
                }

                return secretFile is not null
                    ? identity with { ClientSecret = SecretSource.FromFile(secretFile, where + " clientSecretFile") }
                    : identity with
                    {
                        CertificatePath = certificatePath,
                        CertificatePassword = passwordFile is null ? null : SecretSource.FromFile(passwordFile, where + " certificatePasswordFile"),
                        SendCertificateChain = sendChain ?? false,
                    };

            case IdentityType.AzureCli:
                return tenantId is null || Tenant(tenantId, where, error) ? identity with { TenantId = tenantId } : null;

            default:
                return identity;
        }
    }

    private static bool Guid(string value, string field, string where, Action<string> error)
    {
        if (System.Guid.TryParse(value, out _))
        {
            return true;
        }

        error($"{where}: {field} '{value}' is not a GUID such as abcd1234-1243-abcd-9876-1234abcd5678");
        return false;
    }

    private static bool Tenant(string value, string where, Action<string> error)
    {
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            return true;
        }

        error($"{where}: tenantId '{value}' is not a tenant id (a GUID, or a domain such as contoso.onmicrosoft.com)");
        return false;
    }

    private static bool IsValidPath(string path) =>
        path.Length > 0 && path[0] == '/' && !path.Any(c => c is '?' or '#' or ' ' || char.IsControl(c));

    /// <summary>A string field, or null when absent or JSON null; a value of another kind is an error.</summary>
    private static string? String(JsonElement element, string name, string where, Action<string> error, ref bool ok)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            error($"{where}: {name} must be a string");
            ok = false;
            return null;
        }

        var text = value.GetString()!.Trim();
        return text.Length == 0 ? null : text;
    }

    private static bool RejectUnknown(JsonElement element, string[] known, string where, Action<string> error)
    {
        var ok = true;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                var hint = known.FirstOrDefault(k => k.Equals(property.Name, StringComparison.OrdinalIgnoreCase));
                error($"{where}: unknown field \"{property.Name}\"" + (hint is null ? $"; known fields are {string.Join(", ", known)}" : $"; did you mean \"{hint}\"?"));
                ok = false;
            }
            else if (!seen.Add(property.Name))
            {
                error($"{where}: field \"{property.Name}\" appears twice");
                ok = false;
            }
        }

        return ok;
    }
}
