using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using FastProxy.Configuration;

namespace FastProxy.Identity;

/// <summary>
/// Builds the Azure.Identity credential for the configured identity. Every kind is the real
/// Azure.Identity credential; FastProxy adds only what those lack: re-reading certificate, secret
/// and federated token files when they change, and clear messages when they are unusable.
/// </summary>
internal static class CredentialFactory
{
    /// <param name="identity">The validated identity.</param>
    /// <param name="transport">Null in production; tests pass one that trusts their loopback Entra's CA.</param>
    /// <param name="time">Clock for certificate validity checks.</param>
    public static TokenCredential Create(IdentityOptions identity, HttpPipelineTransport? transport = null, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        switch (identity.Type)
        {
            case IdentityType.AadApplication when identity.CertificatePath is { } path:
                return new CertificateFileCredential(path, identity.CertificatePassword,
                    certificate => new ClientCertificateCredential(identity.TenantId, identity.ClientId, certificate,
                        Configure(new ClientCertificateCredentialOptions { SendCertificateChain = identity.SendCertificateChain }, identity, transport)),
                    time);

            case IdentityType.AadApplication:
                return new ClientSecretFileCredential(identity.ClientSecret!,
                    secret => new ClientSecretCredential(identity.TenantId, identity.ClientId, secret,
                        Configure(new ClientSecretCredentialOptions(), identity, transport)));

            case IdentityType.WorkloadIdentity:
                // The same flow as WorkloadIdentityCredential (a client assertion that is the
                // projected token), with the file read for every assertion; see FederatedTokenFile.
                var tokenFile = new FederatedTokenFile(identity.FederatedTokenFile!);
                return new ClientAssertionCredential(identity.TenantId, identity.ClientId, tokenFile.ReadAsync,
                    Configure(new ClientAssertionCredentialOptions(), identity, transport));

            case IdentityType.AzureCli:
                var cli = new AzureCliCredentialOptions { TenantId = identity.TenantId, ProcessTimeout = TokenSource.FetchTimeout, AuthorityHost = identity.AuthorityHost };
                return new AzureCliCredential(cli);

            default:
                var managed = new ManagedIdentityCredentialOptions(identity switch
                {
                    { Type: IdentityType.UserAssigned, ResourceId: { } resourceId } => ManagedIdentityId.FromUserAssignedResourceId(new ResourceIdentifier(resourceId)),
                    { Type: IdentityType.UserAssigned, ObjectId: { } objectId } => ManagedIdentityId.FromUserAssignedObjectId(objectId),
                    { Type: IdentityType.UserAssigned } => ManagedIdentityId.FromUserAssignedClientId(identity.ClientId!),
                    _ => ManagedIdentityId.SystemAssigned,
                });
                return new ManagedIdentityCredential(Pipeline(managed, transport));
        }
    }

    private static T Configure<T>(T options, IdentityOptions identity, HttpPipelineTransport? transport)
        where T : TokenCredentialOptions
    {
        options.AuthorityHost = identity.AuthorityHost;
        switch (options)
        {
            case ClientCertificateCredentialOptions certificate:
                certificate.DisableInstanceDiscovery = identity.DisableInstanceDiscovery;
                break;
            case ClientSecretCredentialOptions secret:
                secret.DisableInstanceDiscovery = identity.DisableInstanceDiscovery;
                break;
            case ClientAssertionCredentialOptions assertion:
                assertion.DisableInstanceDiscovery = identity.DisableInstanceDiscovery;
                break;
        }

        return Pipeline(options, transport);
    }

    private static T Pipeline<T>(T options, HttpPipelineTransport? transport)
        where T : ClientOptions
    {
        // FastProxy's refresher owns retrying (with backoff, while serving the held token); the
        // Azure.Core pipeline's own retries would only delay the failure it needs to see and report.
        // MSAL's managed-identity sources still retry 5xx by themselves (5 retries over ~25 s,
        // measured; Azure.Identity has no setting for it), which is why FetchTimeout allows 60 s.
        options.Retry.MaxRetries = 0;
        options.Retry.NetworkTimeout = TokenSource.FetchTimeout;
        if (transport is not null)
        {
            options.Transport = transport;
        }

        return options;
    }
}
