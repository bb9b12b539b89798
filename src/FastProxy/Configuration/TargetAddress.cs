namespace FastProxy.Configuration;

/// <summary>
/// Where a route sends requests: a scheme and authority, and either a path prefix that the
/// client's path is appended to, or (for the remote-write sidecar's INGESTION_URL) a complete
/// path and query that replaces the client's.
/// </summary>
internal sealed class TargetAddress
{
    private TargetAddress(string scheme, string authority, string pathAndQuery)
    {
        Scheme = scheme;
        Authority = authority;
        PathAndQuery = pathAndQuery;
        Origin = scheme + "://" + authority;
        Base = Origin + pathAndQuery;
    }

    public string Scheme { get; }
    public string Authority { get; }

    /// <summary>The host name alone (no port, no IPv6 brackets).</summary>
    public string Host => Authority.StartsWith('[') ? Authority[1..Authority.IndexOf(']', StringComparison.Ordinal)] : Authority.Split(':')[0];

    /// <summary>Prefix without a trailing slash ("" for none), or a full path and query.</summary>
    public string PathAndQuery { get; }

    public string Origin { get; }

    /// <summary>Origin and path (and query), as upstream URLs are built from it.</summary>
    public string Base { get; }

    public bool IsHttps => Scheme == "https";

    public override string ToString() => Base;

    /// <summary>
    /// Parses aad-auth-proxy's TARGET_HOST: <c>[scheme://]host[:port][/prefix]</c>. aad-auth-proxy
    /// silently broke requests when a path was given; here every part is either understood or an error.
    /// </summary>
    public static TargetAddress? ParseTargetHost(string value, out string? error)
    {
        var text = value.Trim();
        if (text.Length == 0)
        {
            error = "is empty; give the target's host name, e.g. myworkspace.eastus.prometheus.monitor.azure.com";
            return null;
        }

        if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "https://" + text;
        }

        if (!TryParseAbsolute(text, out var uri, out error))
        {
            return null;
        }

        if (uri.Query.Length > 0 || text.Contains('?', StringComparison.Ordinal))
        {
            error = "must not carry a query string; clients send their own (use INGESTION_URL for a fixed ingestion URL)";
            return null;
        }

        var prefix = uri.AbsolutePath.TrimEnd('/');
        return new TargetAddress(uri.Scheme, uri.Authority, prefix);
    }

    /// <summary>Parses the remote-write sidecar's INGESTION_URL: a full URL, kept byte for byte.</summary>
    public static TargetAddress? ParseIngestionUrl(string value, out string? error)
    {
        var text = value.Trim();
        if (!TryParseAbsolute(text, out var uri, out error))
        {
            return null;
        }

        if (uri.AbsolutePath is "/" or "")
        {
            error = "has no path; copy the full 'Metrics ingestion endpoint' of the data collection rule (…/dataCollectionRules/…/api/v1/write?api-version=…)";
            return null;
        }

        // Keep the path and query exactly as the operator wrote them (no canonicalisation).
        var authorityEnd = text.IndexOf('/', uri.Scheme.Length + 3);
        return new TargetAddress(uri.Scheme, uri.Authority, text[authorityEnd..]);
    }

    private static bool TryParseAbsolute(string text, out Uri uri, out string? error)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out uri!))
        {
            error = $"'{text}' is not a valid URL";
            return false;
        }

        if (uri.Scheme is not ("http" or "https"))
        {
            error = $"scheme '{uri.Scheme}' is not supported; use https:// (or http:// for in-cluster targets)";
            return false;
        }

        if (uri.UserInfo.Length > 0)
        {
            error = "must not contain user information; FastProxy authenticates with the Entra token";
            return false;
        }

        if (uri.Fragment.Length > 0)
        {
            error = "must not contain a fragment (#…)";
            return false;
        }

        error = null;
        return true;
    }
}
