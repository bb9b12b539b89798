using Azure.Core;
using Azure.Identity;
using FastProxy.Configuration;

namespace FastProxy.Identity;

/// <summary>Builds the Azure.Identity credential for the configured identity.</summary>
internal static class CredentialFactory
{
    public static TokenCredential Create(IdentityOptions identity)
    {
        var options = new ManagedIdentityCredentialOptions(identity.Type switch
        {
            IdentityType.UserAssigned => ManagedIdentityId.FromUserAssignedClientId(identity.ClientId!),
            _ => ManagedIdentityId.SystemAssigned,
        });

        // FastProxy's refresher owns retrying (with backoff, while serving the held token); the
        // pipeline's own retries would only delay the failure it needs to see and report.
        options.Retry.MaxRetries = 0;
        options.Retry.NetworkTimeout = TokenSource.FetchTimeout;
        return new ManagedIdentityCredential(options);
    }
}
