using System.Text.Json;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Cli;

/// <summary>
/// The runtime settings the README states are the ones the build produces and the process runs.
/// An MSBuild property with a misspelt name is silently ignored: FastProxy's project once asked for
/// workstation GC under such a name and ran server GC for three rounds of measurements.
/// The native binary is checked the same way in Identity/NativeBinaryTests.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void RuntimeConfig_ServerGcWithDynamicAdaptation_NoBackgroundGc()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fastproxy.runtimeconfig.json")));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.True(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.Equal(1, properties.GetProperty("System.GC.DynamicAdaptationMode").GetInt32());
        Assert.False(properties.GetProperty("System.GC.Concurrent").GetBoolean());
    }

    [Fact]
    public async Task Process_RunsServerGcAndInlineSocketThreads()
    {
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds);
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));
        using (var response = await proxy.PostRemoteWriteAsync(Fixtures.RemoteWrite()[0].Body))
        {
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        }

        AssertRuntimeThreads(proxy.Process.Id);
        // The gen0 budget cap is compiled into the native binary only (Identity/NativeBinaryTests).
        Assert.Contains("runtime: JIT, server GC with dynamic adaptation (DATAS), no background GC, gen0 budget at most", proxy.Process.Stdout);
    }

    /// <summary>The start-up line naming the GC settings the native binary runs, cap included.</summary>
    internal const string NativeRuntimeLine =
        "runtime: native AOT, server GC with dynamic adaptation (DATAS), no background GC, gen0 budget at most 6 MB";

    /// <summary>Server GC threads and no background GC thread; one socket event thread per core.</summary>
    internal static void AssertRuntimeThreads(int processId)
    {
        Assert.True(ProcessThreads.Named(processId, ".NET Server GC") >= 1, "no server GC thread: the process runs workstation GC");
        Assert.Equal(0, ProcessThreads.Named(processId, ".NET BGC"));
        Assert.Equal(Environment.ProcessorCount, ProcessThreads.Named(processId, ".NET Sockets"));
    }
}
