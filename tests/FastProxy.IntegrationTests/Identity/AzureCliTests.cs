using System.Globalization;
using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// IDENTITY_TYPE=azurecli through the real AzureCliCredential, with a stand-in <c>az</c> first on
/// PATH that records its arguments and prints what <c>az account get-access-token</c> prints.
/// </summary>
public sealed class AzureCliTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task AzureCli_TokenFromTheSignedInAccount_ReachesTheTarget_WithADevelopmentWarning()
    {
        var directory = Directory.CreateTempSubdirectory("fastproxy-az-").FullName;
        try
        {
            var token = "fake-cli-token-" + Guid.NewGuid().ToString("N");
            var expires = DateTimeOffset.UtcNow.AddHours(1);
            var script = Path.Combine(directory, "az");
            await File.WriteAllTextAsync(script,
                "#!/bin/sh\n" +
                $"echo \"$@\" >> '{directory}/calls.log'\n" +
                "cat <<'JSON'\n" +
                $"{{\"accessToken\":\"{token}\",\"expiresOn\":\"{expires.LocalDateTime:yyyy-MM-dd HH:mm:ss.ffffff}\",\"expires_on\":{expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}," +
                "\"subscription\":\"0000aaaa-0000-0000-0000-000000000000\",\"tenant\":\"72f988bf-86f1-41af-91ab-2d7cd011db47\",\"tokenType\":\"Bearer\"}\n" +
                "JSON\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await using var upstream = await FakeUpstream.StartAsync(token);

            await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
            {
                ["TARGET_HOST"] = upstream.BaseUrl,
                ["IDENTITY_TYPE"] = "azurecli",
                ["PATH"] = directory + ":" + Environment.GetEnvironmentVariable("PATH"),
            });
            using var client = TestHttp.CreateClient(proxy.BaseAddress);
            await proxy.WaitForReadyAsync(client, TimeSpan.FromSeconds(30));
            using var content = new ByteArrayContent([1, 2, 3]);
            using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), content);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(["Bearer " + token], upstream.TokensSeen);
            var calls = await File.ReadAllTextAsync(Path.Combine(directory, "calls.log"));
            Assert.Contains("account get-access-token", calls, StringComparison.Ordinal);
            Assert.Contains("https://monitor.azure.com", calls, StringComparison.Ordinal);
            Assert.Contains("development only", proxy.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(token, proxy.Stdout + proxy.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
