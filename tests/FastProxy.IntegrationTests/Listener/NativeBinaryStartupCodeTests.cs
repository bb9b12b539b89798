using System.Net;
using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// The native binary gives the code only start-up needed back to the kernel five seconds after its
/// first token, and forwarding goes on, faulting back in only what it uses. Runs when
/// FASTPROXY_NATIVE_BINARY names a published binary (CI does); skipped otherwise, since on the JIT
/// the executable is the dotnet host and nothing is released.
/// </summary>
[Collection(NativeBinaryCollection.Name)]
public sealed class NativeBinaryStartupCodeTests
{
    [Fact]
    public async Task OnceStartUpIsOver_StartupCodeLeavesMemory_AndRequestsStillFlow()
    {
        var binary = Environment.GetEnvironmentVariable("FASTPROXY_NATIVE_BINARY");
        Assert.SkipWhen(string.IsNullOrEmpty(binary) || !File.Exists(binary), "FASTPROXY_NATIVE_BINARY is not set to a published binary");
        await using var imds = await FakeImds.StartAsync();
        await using var child = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?> { ["LOG_LEVEL"] = "debug" }, nativeBinary: binary);
        var proxy = child.Process;
        await proxy.WaitForReadyAsync(child.Client, TimeSpan.FromSeconds(30));

        await proxy.WaitForOutputAsync("Start-up code released", TimeSpan.FromSeconds(30));
        var line = proxy.Stdout.Split('\n').Single(l => l.Contains("\"EventId\":603", StringComparison.Ordinal));
        var state = JsonDocument.Parse(line).RootElement.GetProperty("State");
        Assert.Equal(0, state.GetProperty("Error").GetInt32());
        // The text and read-only data of the executable (≈ 22 MB); most of it was resident.
        var executableMb = new FileInfo(binary!).Length / 1048576.0;
        Assert.InRange(state.GetProperty("ReleasedMb").GetDouble(), executableMb * 0.8, executableMb * 1.2);
        Assert.True(state.GetProperty("AfterMb").GetDouble() < state.GetProperty("BeforeMb").GetDouble() - executableMb / 3,
            $"resident memory did not drop: {line}");

        var body = Fixtures.RemoteWrite()[0].Body;
        for (var i = 0; i < 200; i++)
        {
            using var response = await child.PostRemoteWriteAsync(body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // How much forwarding faults back in depends on the kernel's fault-around and page-cache
        // folio sizes, so it is measured by the load harness (idle RSS), not asserted here.
        Assert.Equal(200, child.Upstream.Requests.Count);
    }
}
