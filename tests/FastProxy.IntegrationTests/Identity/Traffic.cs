using System.Net;

namespace FastProxy.IntegrationTests.Identity;

/// <summary>
/// Requests sent one after another through FastProxy until stopped, bounded in count and time,
/// recording every answer that was not 200: the evidence for "zero failed requests".
/// </summary>
internal sealed class Traffic : IAsyncDisposable
{
    private const int MaxRequests = 200_000;
    private static readonly TimeSpan MaxDuration = TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private readonly Task _loop;
    private int _sent;

    private Traffic(EntraFixture world)
    {
        _loop = Task.Run(() => RunAsync(world));
    }

    public int Sent => Volatile.Read(ref _sent);

    public static Traffic Start(EntraFixture world) => new(world);

    private async Task RunAsync(EntraFixture world)
    {
        var deadline = DateTime.UtcNow + MaxDuration;
        while (!_stop.IsCancellationRequested && _sent < MaxRequests && DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await world.PostAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var failure = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                    lock (_failures)
                    {
                        _failures.Add(failure);
                    }
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                lock (_failures)
                {
                    _failures.Add(ex.Message);
                }
            }

            Interlocked.Increment(ref _sent);
        }
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> more requests have been sent.</summary>
    public async Task WaitForMoreAsync(int count, TimeSpan timeout)
    {
        var target = Sent + count;
        var deadline = DateTime.UtcNow + timeout;
        while (Sent < target)
        {
            Assert.True(DateTime.UtcNow < deadline, $"traffic stalled at {Sent} requests");
            Assert.False(_loop.IsCompleted, $"traffic loop ended early after {Sent} requests: {_loop.Exception?.GetBaseException().Message ?? "limit reached"}");
            await Task.WhenAny(_loop, Task.Delay(20));
        }
    }

    /// <summary>Stops the loop and returns what failed.</summary>
    public async Task<IReadOnlyList<string>> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(30));
        lock (_failures)
        {
            return [.. _failures];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            // The test already failed or passed on what it saw.
        }

        _stop.Dispose();
    }
}
