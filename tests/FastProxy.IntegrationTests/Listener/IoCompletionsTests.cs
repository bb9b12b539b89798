using System.Net;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FastProxy.IntegrationTests.Listener;

/// <summary>
/// IO_COMPLETIONS in the real process: inline (the default) runs requests on the socket event
/// threads, one per core unless IO_THREADS says how many; threadpool keeps the runtime's single
/// event thread. Either way every body arrives intact, and a request held by the target never
/// holds up other connections — the property inline completions would lose if anything on the
/// request path blocked a thread, and most plainly with IO_THREADS=1, where every connection
/// shares the one thread.
/// </summary>
public sealed class IoCompletionsTests
{
    [Theory]
    [InlineData(null, null, true)]
    [InlineData(null, "1", true)]
    [InlineData("threadpool", null, false)]
    public async Task HeldRequest_DoesNotStallOtherConnections(string? mode, string? ioThreads, bool inline)
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?> { ["IO_COMPLETIONS"] = mode, ["IO_THREADS"] = ioThreads });
        proxy.Upstream.Behavior = async (context, recorded) =>
        {
            recorded.Body = await FakeUpstream.ReadBodyAsync(context);
            if (context.Request.Headers["X-Hold"] == "1")
            {
                held.TrySetResult();
                await release.Task.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted);
            }

            context.Response.StatusCode = 204;
        };
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));
        var bodies = Fixtures.RemoteWrite().Select(f => f.Body).ToArray();

        using var holdClient = TestHttp.CreateClient(proxy.Process.BaseAddress, TimeSpan.FromSeconds(30));
        using var holdRequest = TestHttp.RemoteWrite(bodies[0]);
        holdRequest.Headers.Add("X-Hold", "1");
        var heldResponse = holdClient.SendAsync(holdRequest);
        await held.Task.WaitAsync(TimeSpan.FromSeconds(15));

        // 8 connections × 25 requests while the first one waits at the target.
        var others = Enumerable.Range(0, 8).Select(async worker =>
        {
            using var client = TestHttp.CreateClient(proxy.Process.BaseAddress, TimeSpan.FromSeconds(30));
            for (var i = 0; i < 25; i++)
            {
                using var request = TestHttp.RemoteWrite(bodies[(worker + i) % bodies.Length]);
                using var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }
        });
        await Task.WhenAll(others).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(heldResponse.IsCompleted, "the held request ended before the target answered it");
        release.TrySetResult();
        using (var response = await heldResponse.WaitAsync(TimeSpan.FromSeconds(15)))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        var received = proxy.Upstream.Requests;
        Assert.Equal(201, received.Count);
        foreach (var request in received)
        {
            Assert.Contains(bodies, body => body.AsSpan().SequenceEqual(request.Body));
        }

        // The runtime names its socket event threads ".NET Sockets": IO_THREADS if set, else one
        // per core inline and one per 30 cores otherwise (System.Net.Sockets' own rule).
        var expected = ioThreads is not null ? int.Parse(ioThreads, System.Globalization.CultureInfo.InvariantCulture)
            : inline ? Environment.ProcessorCount : Math.Max(1, (int)Math.Round(Environment.ProcessorCount / 30.0));
        Assert.Equal(expected, ProcessThreads.Named(proxy.Process.Id, ".NET Sockets"));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("inline", true)]
    [InlineData("threadpool", false)]
    public async Task KestrelResumesRequestCodeInline_AsConfigured(string? mode, bool inline)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        var environment = new Dictionary<string, string> { ["TARGET_HOST"] = upstream.BaseUrl };
        if (mode is not null)
        {
            environment["IO_COMPLETIONS"] = mode;
        }

        await using var proxy = await InProcessProxy.StartAsync(environment);
        var transport = proxy.Server.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value;
        Assert.Equal(inline, transport.UnsafePreferInlineScheduling);

        upstream.RequireToken = false;
        using var client = TestHttp.CreateClient(proxy.Address, TimeSpan.FromSeconds(30));
        using var request = TestHttp.RemoteWrite(Fixtures.RemoteWrite()[0].Body);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
