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
    /// The default when AUDIENCE is not set: the query audience for a workspace's query endpoint,
    /// the ingestion audience otherwise (aad-auth-proxy made both kinds of user set it).
    /// </summary>
    public static string DefaultFor(TargetAddress target)
    {
        var host = target.Authority.Split(':')[0];
        return host.EndsWith(".prometheus.monitor.azure.com", StringComparison.OrdinalIgnoreCase)
            ? QueryScope
            : IngestionScope;
    }
}
