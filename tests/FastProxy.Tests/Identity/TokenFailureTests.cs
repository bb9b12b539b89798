using Azure;
using Azure.Identity;
using FastProxy.Identity;

namespace FastProxy.Tests.Identity;

public sealed class TokenFailureTests
{
    public static TheoryData<Exception, string> Kinds => new()
    {
        { new CredentialUnavailableException("no endpoint"), "identity_unavailable" },
        { new AuthenticationFailedException("ClientSecretCredential authentication failed: AADSTS7000215"), "authentication_failed" },
        { new AuthenticationFailedException("failed", new RequestFailedException(429, "Too Many Requests")), "throttled" },
        { new AuthenticationFailedException("failed", new RequestFailedException(503, "Service Unavailable")), "server_error" },
        { new AuthenticationFailedException("failed", new RequestFailedException(400, "Bad Request")), "rejected" },
        { new TimeoutException("the identity endpoint did not answer"), "timeout" },
        { new AuthenticationFailedException("failed", new HttpRequestException("connection refused")), "unreachable" },
        { new AuthenticationFailedException("failed", new System.Text.Json.JsonException("'<' is invalid")), "malformed_response" },
        { new CredentialMaterialException("file missing"), "credential_material" },
        { new InvalidOperationException("something else"), "other" },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Classify_GivesAStableKind(Exception exception, string kind) =>
        Assert.Equal(kind, TokenFailure.Classify(exception));

    [Theory]
    [InlineData("AADSTS700016: Application with identifier 'x' was not found in the directory", "check AAD_CLIENT_ID, AAD_TENANT_ID and CLOUD")]
    [InlineData("AADSTS7000215: Invalid client secret provided.", "check AAD_CLIENT_SECRET_FILE")]
    [InlineData("AADSTS700027: Client assertion failed signature validation.", "upload the certificate's public part")]
    [InlineData("AADSTS70021: No matching federated identity record found for presented assertion.", "issuer, subject and audience")]
    [InlineData("AADSTS90002: Tenant 'x' not found.", "check AAD_TENANT_ID and CLOUD")]
    [InlineData("Please run 'az login' to set up an account.", "azurecli is for development only")]
    public void Describe_HintsWhatToCheckForCommonEntraErrors(string message, string hint) =>
        Assert.Contains(hint, TokenFailure.Describe(new AuthenticationFailedException(message)), StringComparison.Ordinal);
}
