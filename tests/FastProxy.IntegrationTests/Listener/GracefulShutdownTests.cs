using System.Net;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>SIGTERM (a pod being deleted): in-flight requests finish, then the process exits 0.</summary>
public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task SigtermDuringInFlightRequest_RequestCompletesAndProcessExitsZero()
    {
        var upstreamHolding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds);
        proxy.Upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            upstreamHolding.TrySetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted);
            context.Response.StatusCode = 204;
        };
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));
        var body = Fixtures.RemoteWrite()[2].Body;

        var inFlight = proxy.PostRemoteWriteAsync(body);
        await upstreamHolding.Task.WaitAsync(TimeSpan.FromSeconds(15));
        proxy.Process.Terminate();
        // FastProxy says it is draining (event 102) while the request is still held upstream.
        await proxy.Process.WaitForOutputAsync("Shutting down", TimeSpan.FromSeconds(15));
        Assert.False(inFlight.IsCompleted, "the in-flight request ended before the target answered");
        release.TrySetResult();

        using var response = await inFlight.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.True(body.AsSpan().SequenceEqual(Assert.Single(proxy.Upstream.Requests).Body), "body changed on the way");
        var exitCode = await proxy.Process.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exitCode == 0, $"exit code {exitCode}\n{proxy.Process.Describe()}");
    }
}
