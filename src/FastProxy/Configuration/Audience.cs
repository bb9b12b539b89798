namespace FastProxy.Configuration;

/// <summary>Entra scopes for Azure Monitor, and the forms in which operators write them.</summary>
internal static class Audience
{
    public const string IngestionScope = "https://monitor.azure.com/.default";
    public const string QueryScope = "https://prometheus.monitor.azure.com/.default";

    /// <summary>
    /// Turns "https://monitor.azure.com", "https://monitor.azure.com/" and
    /// "https://monitor.azure.com/.default" into the one scope Entra expects.
    /// </summary>
    public static string? ToScope(string audience, out string? error)
    {
        var text = audience.Trim();
        if (text.EndsWith("/.default", StringComparison.OrdinalIgnoreCase))
        {
            text = text[..^"/.default".Length];
        }

        text = text.TrimEnd('/');
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "api"))
        {
            error = $"'{audience}' is not an audience; use e.g. {IngestionScope} (ingestion) or {QueryScope} (query)";
            return null;
        }

        error = null;
        return text + "/.default";
    }

    /// <summary>
    /// The default when AUDIENCE is not set: the query audience for a workspace query endpoint,
    /// the cloud's ingestion audience otherwise (aad-auth-proxy made both kinds of user set it).
    /// Null with <paramref name="error"/> when no default fits: AZURECUSTOM has none, and a query
    /// endpoint of another cloud than CLOUD would get a token Entra never issues for it.
    /// </summary>
    public static string? DefaultFor(TargetAddress target, AzureCloud cloud, out string? error)
    {
        var host = target.Host;
        if (AzureCloud.ForQueryHost(host) is { } queryCloud)
        {
            if (cloud.Name != CloudName.AzureCustom && queryCloud.Name != cloud.Name)
            {
                error = $"is a workspace query endpoint of {queryCloud} but CLOUD is {cloud}; set CLOUD={queryCloud} (or AUDIENCE)";
                return null;
            }

            error = null;
            return queryCloud.QueryScope;
        }

        if (cloud.IngestionScope is null)
        {
            error = $"needs an audience when CLOUD is {cloud}: set AUDIENCE (or INGESTION_AAD_AUDIENCE) to your cloud's Azure Monitor audience";
            return null;
        }

        error = null;
        return cloud.IngestionScope;
    }
}
