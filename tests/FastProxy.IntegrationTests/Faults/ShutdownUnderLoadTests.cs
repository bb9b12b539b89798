using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Faults;

/// <summary>
/// SIGTERM while many bodies are mid-upload: each of them completes with its whole body delivered,
/// new connections are refused without hanging, and the process exits 0 within the drain time.
/// </summary>
public sealed class ShutdownUnderLoadTests
{
    private const int Concurrent = 16;
    private const int HalfBody = 256 * 1024;
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task SigtermWith16BodiesMidUpload_AllComplete2xxIntact_NewConnectionsRefused_ExitZero()
    {
        await using var imds = await FakeImds.StartAsync();
        await using var proxy = await ChildProxy.StartWithImdsAsync(imds, new Dictionary<string, string?>
        {
            ["SHUTDOWN_DRAIN_TIMEOUT_SECONDS"] = "20",
        });
        await proxy.Process.WaitForReadyAsync(proxy.Client, TimeSpan.FromSeconds(30));

        var receiving = 0;
        var changed = new ChangeSignal();
        proxy.Upstream.Behavior = async (context, recorded) =>
        {
            var reader = context.Request.BodyReader;
            using var body = new MemoryStream();
            var counted = false;
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                foreach (var segment in read.Buffer)
                {
                    body.Write(segment.Span);
                }

                reader.AdvanceTo(read.Buffer.End);
                if (!counted && body.Length > 0)
                {
                    counted = true;
                    Interlocked.Increment(ref receiving);
                    changed.Notify();
                }

                if (read.IsCompleted)
                {
                    break;
                }
            }

            recorded.Body = body.ToArray();
            context.Response.StatusCode = 204;
        };

        // 16 uploads, each stopped halfway until the signal has been given.
        var finishBodies = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bodies = Enumerable.Range(0, Concurrent).Select(_ => RandomNumberGenerator.GetBytes(2 * HalfBody)).ToList();
        var uploads = bodies.Select(body => proxy.Client.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new PushContent(async (stream, ct) =>
        {
            await stream.WriteAsync(body.AsMemory(0, HalfBody), ct);
            await stream.FlushAsync(ct);
            await finishBodies.Task.WaitAsync(EventTimeout, ct);
            await stream.WriteAsync(body.AsMemory(HalfBody), ct);
        }, body.Length))).ToList();
        await changed.WaitUntilAsync(() => Volatile.Read(ref receiving) == Concurrent, EventTimeout, $"{Concurrent} bodies arriving at the target (got {Volatile.Read(ref receiving)})");

        var signalled = Stopwatch.StartNew();
        proxy.Process.Terminate();
        await proxy.Process.WaitForOutputAsync("Shutting down", EventTimeout);

        // New connections: refused once the listener has closed, which Kestrel does first when it
        // stops (the log line comes a moment earlier, so a request racing it may still be served,
        // in full). Never a hang, never a 2xx for a body the target did not get whole.
        var lateAnswers = new List<string>();
        var refusals = 0;
        for (var attempt = 0; attempt < 50 && refusals < 3; attempt++)
        {
            using var late = TestHttp.CreateClient(proxy.Process.BaseAddress, TimeSpan.FromSeconds(5));
            var lateBody = RandomNumberGenerator.GetBytes(100);
            try
            {
                using var response = await late.PostAsync(new Uri("/api/v1/write", UriKind.Relative), new ByteArrayContent(lateBody));
                lateAnswers.Add($"{(int)response.StatusCode} at {signalled.Elapsed.TotalMilliseconds:0} ms");
                Assert.True(refusals == 0, $"a new connection was accepted after the listener had refused one: {lateAnswers[^1]}");
                if (response.IsSuccessStatusCode)
                {
                    Assert.Contains(proxy.Upstream.Requests, r => r.Body is { } b && b.AsSpan().SequenceEqual(lateBody));
                }
                else
                {
                    // FastProxy refuses rather than answers today; should it answer, it must be its own 503.
                    Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                    Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
                }
            }
            catch (HttpRequestException ex) when (ex.GetBaseException() is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.ConnectionReset })
            {
                // Refused, or reset because it was still in the closing listener's backlog: the
                // request was never read, and the client knows to retry it.
                refusals++;
            }
            catch (TaskCanceledException)
            {
                Assert.Fail($"a new connection after SIGTERM hung for 5 s (answers so far: {string.Join(", ", lateAnswers)})");
            }
        }

        Assert.True(refusals == 3, $"new connections were not refused after SIGTERM; answers: {string.Join(", ", lateAnswers)}");
        TestContext.Current.TestOutputHelper?.WriteLine($"refusing by {signalled.Elapsed.TotalMilliseconds:0} ms after SIGTERM; answered before: {string.Join(", ", lateAnswers)}");
        Assert.All(uploads, u => Assert.False(u.IsCompleted, "an upload ended before its body was finished"));

        // The held uploads finish: every one 2xx, every body whole at the target.
        finishBodies.TrySetResult();
        var responses = await Task.WhenAll(uploads).WaitAsync(EventTimeout);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.NoContent, r.StatusCode));
        var received = proxy.Upstream.Requests.Where(r => r.Body is not null).Select(r => Convert.ToHexString(SHA256.HashData(r.Body!))).ToHashSet();
        Assert.All(bodies, b => Assert.Contains(Convert.ToHexString(SHA256.HashData(b)), received));

        var exitCode = await proxy.Process.WaitForExitAsync(EventTimeout);
        Assert.True(exitCode == 0, $"exit code {exitCode}\n{proxy.Process.Describe()}");
        TestContext.Current.TestOutputHelper?.WriteLine($"exited {signalled.Elapsed.TotalMilliseconds:0} ms after SIGTERM");
        Assert.True(signalled.Elapsed < TimeSpan.FromSeconds(20), $"exit {signalled.Elapsed.TotalSeconds:0.0} s after SIGTERM, past the 20 s drain timeout");
    }
}
