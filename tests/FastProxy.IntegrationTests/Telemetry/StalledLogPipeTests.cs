using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>
/// A log pipe nobody drains (a stalled container runtime, a full node disk) must not stall
/// forwarding: with inline I/O completions the thread that logs is a socket event thread, and a
/// console logger that waits for queue space would stop every connection on it. Log lines are
/// dropped instead, and the logger says how many on stderr once the pipe moves again.
/// </summary>
public sealed class StalledLogPipeTests
{
    [Fact]
    public async Task StdoutNotRead_RequestsStillFlow()
    {
        await using var imds = await FakeImds.StartAsync();
        // One line per request (event 305): 6,000 requests are far more than the 64 KB pipe and
        // the logger's 2,500-line queue hold.
        await using var child = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?> { ["LOG_LEVEL"] = "debug" }, holdStdout: true);
        var (proxy, client, upstream) = (child.Process, child.Client, child.Upstream);
        await proxy.WaitForReadyAsync(client, TimeSpan.FromSeconds(30));
        var body = Fixtures.RemoteWrite()[0].Body;

        var workers = Enumerable.Range(0, 8).Select(async _ =>
        {
            using var worker = TestHttp.CreateClient(proxy.BaseAddress, TimeSpan.FromSeconds(30));
            for (var i = 0; i < 750; i++)
            {
                using var request = TestHttp.RemoteWrite(body);
                using var response = await worker.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        });
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(90));
        Assert.Equal(6000, upstream.Requests.Count);

        // Once the pipe is read again, the logger reports on stderr how many lines it dropped
        // (under the build's resource keys: "WarningMessageOnDrop, <count>"), with the first line
        // it queues once its queue has room. The queue drains only after the release, so a line
        // logged at once can still find it full and be dropped too: requests keep coming, each
        // with its own line, until one finds room (bounded).
        proxy.ReleaseStdout();
        for (var i = 0; i < 1000 && !proxy.Stderr.Contains("WarningMessageOnDrop", StringComparison.Ordinal); i++)
        {
            using var request = TestHttp.RemoteWrite(body);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await proxy.WaitForOutputAsync("WarningMessageOnDrop", TimeSpan.FromSeconds(30));
    }
}
