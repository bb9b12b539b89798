namespace FastProxy.Identity;

/// <summary>
/// The projected service-account token of workload identity, read afresh for every assertion.
/// Azure.Identity's WorkloadIdentityCredential keeps the file's content for five minutes; reading
/// it each time (once per token fetch, a few hundred bytes) follows Kubernetes' rotation at once
/// and turns a missing file into a clear failure instead of a stale assertion.
/// </summary>
internal sealed class FederatedTokenFile
{
    private readonly string _path;

    public FederatedTokenFile(string path)
    {
        _path = path;
    }

    public async Task<string> ReadAsync(CancellationToken cancellationToken)
    {
        var text = await CredentialFiles.ReadTextAsync(_path, "AZURE_FEDERATED_TOKEN_FILE", cancellationToken);
        // A JWT has no whitespace; a trailing newline from a hand-written file would break it.
        return text.Trim();
    }
}
