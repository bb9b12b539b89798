using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// The native-AOT binary's confidential-client flows at run time (trimming can break what the
/// compiler did not warn about). Runs when FASTPROXY_NATIVE_BINARY names a published binary, e.g.
/// after <c>dotnet publish src/FastProxy -c Release -r linux-x64</c>; skipped otherwise. The
/// YAML routes case is here for the same reason: the YAML parser runs only in the native binary.
/// </summary>
[Collection(NativeBinaryCollection.Name)]
public sealed class NativeBinaryTests
{
    [Theory]
    [InlineData("pem")]
    [InlineData("pfx")]
    [InlineData("secret")]
    [InlineData("workload")]
    [InlineData("secret-yaml-routes")]
    public async Task NativeBinary_GetsATokenFromEntra(string flow)
    {
        var binary = Environment.GetEnvironmentVariable("FASTPROXY_NATIVE_BINARY");
        Assert.SkipWhen(string.IsNullOrEmpty(binary) || !File.Exists(binary), "FASTPROXY_NATIVE_BINARY is not set to a published binary");
        await using var world = await EntraFixture.StartAsync();
        var port = FreePort.Get();
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = world.Upstream.BaseUrl,
            ["AZURE_CLIENT_ID"] = world.Entra.ClientId,
            ["AZURE_TENANT_ID"] = world.Entra.TenantId,
            ["AZURE_AUTHORITY_HOST"] = world.Entra.AuthorityHost.ToString(),
            ["SSL_CERT_FILE"] = world.Authority.BundlePath,
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["LISTENING_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["WAIT_FOR_TOKEN_SECONDS"] = "20",
            ["LOG_FORMAT"] = "text",
        };
        var certificate = TestClientCertificates.Create("CN=native");
        world.Entra.AcceptCertificate(certificate);
        switch (flow)
        {
            case "pem":
                await File.WriteAllTextAsync(world.PathOf("c.pem"), TestClientCertificates.Pem(certificate));
                environment["AAD_CLIENT_CERTIFICATE_PATH"] = world.PathOf("c.pem");
                break;
            case "pfx":
                await File.WriteAllBytesAsync(world.PathOf("c.pfx"), TestClientCertificates.Pfx(certificate, "native-password"));
                environment["AAD_CLIENT_CERTIFICATE_PATH"] = world.PathOf("c.pfx");
                environment["AAD_CLIENT_CERTIFICATE_PASSWORD"] = "native-password";
                break;
            case "secret":
                world.Entra.ClientSecret = "native-secret";
                environment["AAD_CLIENT_SECRET"] = "native-secret";
                break;
            case "secret-yaml-routes":
                world.Entra.ClientSecret = "native-secret";
                environment["AAD_CLIENT_SECRET"] = "native-secret";
                environment.Remove("TARGET_HOST");
                await File.WriteAllTextAsync(world.PathOf("routes.yaml"), $"routes:\n  - name: all  # the one route\n    pathPrefix: /\n    target: {world.Upstream.BaseUrl}\n");
                environment["ROUTES_FILE"] = world.PathOf("routes.yaml");
                break;
            default:
                var projected = TestClientCertificates.FakeServiceAccountToken("native");
                world.Entra.AcceptFederatedToken(projected);
                await File.WriteAllTextAsync(world.PathOf("token"), projected);
                environment["AZURE_FEDERATED_TOKEN_FILE"] = world.PathOf("token");
                break;
        }

        var start = new ProcessStartInfo(binary!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment.Clear();
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = TestHttp.CreateClient(new Uri($"http://127.0.0.1:{port}"), TimeSpan.FromSeconds(10));
            var status = (HttpStatusCode)0;
            // With WAIT_FOR_TOKEN_SECONDS the listener opens once the token is held; bounded polling of another process.
            for (var attempt = 0; attempt < 300 && status != HttpStatusCode.OK; attempt++)
            {
                try
                {
                    using var response = await client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent([1]));
                    status = response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100);
                }
            }

            Assert.True(status == HttpStatusCode.OK, $"{status}\n{output}\nEntra: {string.Join("; ", world.Entra.TokenRequests.Select(r => r.Problem ?? "ok"))}");
            // The runtime settings are compiled into the native binary: check the ones it runs.
            Cli.RuntimeSettingsTests.AssertRuntimeThreads(process.Id);
            lock (output)
            {
                Assert.Contains(Cli.RuntimeSettingsTests.NativeRuntimeLine, output.ToString());
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
