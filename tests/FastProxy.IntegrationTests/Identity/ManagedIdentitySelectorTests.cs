using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// A user-assigned managed identity selected by resource id or object id (issue 3), through the
/// real ManagedIdentityCredential in a child process against the fake IMDS.
/// </summary>
public sealed class ManagedIdentitySelectorTests
{
    private const string ResourceId = "/subscriptions/0000aaaa-0000-0000-0000-000000000000/resourceGroups/monitoring/providers/Microsoft.ManagedIdentity/userAssignedIdentities/prometheus-writer";
    private const string ObjectId = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("AAD_RESOURCE_ID")]
    [InlineData("AAD_CLIENT_ID")]
    public async Task UserAssigned_ByResourceId_SendsTheResourceIdToImds(string variable)
    {
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["IDENTITY_TYPE"] = "userassigned",
            [variable] = ResourceId,
        });

        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);
        using var response = await proxy.PostRemoteWriteAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = imds.Requests[0];
        Assert.Equal(ResourceId, request.QueryValue("msi_res_id") ?? request.QueryValue("mi_res_id"));
        Assert.Null(request.QueryValue("client_id"));
        Assert.Equal("https://monitor.azure.com", request.QueryValue("resource"));
        Assert.Contains("userassigned (resource id " + ResourceId, proxy.Process.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UserAssigned_ByObjectId_SendsTheObjectIdToImds()
    {
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["IDENTITY_TYPE"] = "userassigned",
            ["AAD_OBJECT_ID"] = ObjectId,
        });

        await proxy.Process.WaitForReadyAsync(proxy.Client, StartTimeout);
        using var response = await proxy.PostRemoteWriteAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var request = imds.Requests[0];
        Assert.Equal(ObjectId, request.QueryValue("object_id") ?? request.QueryValue("principal_id"));
        Assert.Null(request.QueryValue("client_id"));
    }
}
