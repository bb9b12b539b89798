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
    private readonly List<string> _errors = [];

    public ConfigurationLoader(IReadOnlyDictionary<Setting, string?> flags, Func<string, string?> environment)
    {
        _flags = flags;
        _environment = environment;
    }

    public static ConfigurationResult FromEnvironment(IReadOnlyDictionary<Setting, string?>? flags = null) =>
        new ConfigurationLoader(flags ?? new Dictionary<Setting, string?>(), Environment.GetEnvironmentVariable).Load();

    public ConfigurationResult Load()
    {
        var identity = ReadIdentity();
        var routes = ReadRoutes();
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
            Identity = identity ?? new IdentityOptions(IdentityType.SystemAssigned, null),
            ListenAddress = listenAddress,
            ListeningPort = listeningPort,
            H2cPort = h2cPort,
            RefreshPercentage = ReadInt(Settings.RefreshPercentage, 10, 1, 99),
            OverrideRequestHeaders = ReadOverrideHeaders(),
            UpstreamTimeout = ReadSeconds(Settings.UpstreamTimeout, 60),
            ConnectTimeout = ReadSeconds(Settings.ConnectTimeout, 10),
            MaxConnectionsPerServer = ReadInt(Settings.MaxConnectionsPerServer, 256, 1, 65535),
            PooledConnectionLifetime = ReadSeconds(Settings.PooledConnectionLifetime, 300),
            DrainTimeout = ReadSeconds(Settings.DrainTimeout, 25),
            OtelServiceName = Read(Settings.OtelServiceName) is { Length: > 0 } service ? service : "aad_auth_proxy",
            OtelGrpcEndpoint = ReadOtelEndpoint(),
            LogLevel = ReadLogLevel(),
            LogFormat = ReadLogFormat(),
        };
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

    private IdentityOptions? ReadIdentity()
    {
        var raw = Read(Settings.IdentityType);
        var clientId = Read(Settings.ClientId);
        if (raw is null)
        {
            Error(Settings.IdentityType, "is not set; use systemassigned or userassigned (with AAD_CLIENT_ID)");
            return null;
        }

        switch (raw.ToLowerInvariant())
        {
            case "systemassigned":
                return new IdentityOptions(IdentityType.SystemAssigned, null);
            case "userassigned":
                if (clientId is null)
                {
                    Error(Settings.ClientId, "is required when IDENTITY_TYPE is userassigned: set it to the managed identity's client id");
                    return null;
                }

                if (!Guid.TryParse(clientId, out _))
                {
                    Error(Settings.ClientId, $"'{clientId}' is not a client id (a GUID such as abcd1234-1243-abcd-9876-1234abcd5678)");
                    return null;
                }

                return new IdentityOptions(IdentityType.UserAssigned, clientId);
            case "aadapplication" or "workloadidentity":
                Error(Settings.IdentityType, $"'{raw}' is not supported by this version yet; use systemassigned or userassigned");
                return null;
            default:
                Error(Settings.IdentityType, $"'{raw}' is not an identity type; use systemassigned or userassigned");
                return null;
        }
    }

    private List<RouteDefinition> ReadRoutes()
    {
        var targetHost = Read(Settings.TargetHost);
        var ingestionUrl = Read(Settings.IngestionUrl);
        var audience = Read(Settings.Audience);
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

        string? scope = Audience.DefaultFor(target);
        if (audience is not null)
        {
            scope = Audience.ToScope(audience, out var audienceError);
            if (scope is null)
            {
                Error(Settings.Audience, audienceError!);
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
            // The value may hold keys, so the message quotes the parser's position, not the text.
            Error(Settings.OverrideRequestHeaders, $"is not valid JSON ({ex.Message}); use an object such as {{\"x-header\":\"value\"}}");
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
