using System.Net;

namespace FastProxy.Configuration;

internal enum IdentityType
{
    SystemAssigned,
    UserAssigned,
}

internal enum LogFormat
{
    Text,
    Json,
}

/// <summary>Who FastProxy is when it asks Entra for a token.</summary>
internal sealed record IdentityOptions(IdentityType Type, string? ClientId)
{
    public string Describe() => Type switch
    {
        IdentityType.UserAssigned => $"userassigned (client id {ClientId})",
        _ => "systemassigned",
    };
}

/// <summary>
/// How a request path selects a target. <see cref="ExactPath"/> routes replace the client's path
/// with the target's (the remote-write sidecar's INGESTION_URL); prefix routes append it.
/// </summary>
internal sealed record RouteDefinition(string Name, string? ExactPath, TargetAddress Target, string Scope);

/// <summary>The validated, immutable configuration of one FastProxy process.</summary>
internal sealed record ProxyOptions
{
    public required IReadOnlyList<RouteDefinition> Routes { get; init; }
    public required IdentityOptions Identity { get; init; }
    public IPAddress ListenAddress { get; init; } = IPAddress.IPv6Any;
    public int ListeningPort { get; init; } = 8081;
    public int? H2cPort { get; init; }
    public int RefreshPercentage { get; init; } = 10;
    public IReadOnlyList<KeyValuePair<string, string>> OverrideRequestHeaders { get; init; } = [];
    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public int MaxConnectionsPerServer { get; init; } = 256;
    public TimeSpan PooledConnectionLifetime { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(25);
    public string OtelServiceName { get; init; } = "aad_auth_proxy";
    public string? OtelGrpcEndpoint { get; init; }
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;
    public LogFormat LogFormat { get; init; } = Console.IsOutputRedirected ? LogFormat.Json : LogFormat.Text;

    /// <summary>One line per setting, secrets left out, for the start-up log.</summary>
    public IEnumerable<string> Describe()
    {
        foreach (var route in Routes)
        {
            var match = route.ExactPath is null ? "every path" : route.ExactPath;
            yield return $"route {route.Name}: {match} -> {route.Target} (scope {route.Scope})";
        }

        yield return $"identity: {Identity.Describe()}";
        var listen = ListenAddress.Equals(IPAddress.IPv6Any) ? "*" : ListenAddress.ToString();
        yield return $"listen: {listen}:{ListeningPort} (HTTP/1.1)" + (H2cPort is { } h2c ? $", {listen}:{h2c} (h2c)" : "");
        yield return $"token refresh at {RefreshPercentage}% of lifetime remaining";
        // Override values can carry keys; only their names are logged.
        if (OverrideRequestHeaders.Count > 0)
        {
            yield return "override request headers: " + string.Join(", ", OverrideRequestHeaders.Select(h => h.Key));
        }

        yield return $"upstream: timeout {UpstreamTimeout.TotalSeconds}s, connect timeout {ConnectTimeout.TotalSeconds}s, " +
                     $"max {MaxConnectionsPerServer} connections per server, connection lifetime {PooledConnectionLifetime.TotalSeconds}s";
        yield return $"shutdown drain timeout {DrainTimeout.TotalSeconds}s";
    }
}
