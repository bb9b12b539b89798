using BenchmarkDotNet.Attributes;
using FastProxy.Forwarding;

namespace FastProxy.Benchmarks;

/// <summary>Step 1 of the hot path: the token is one volatile read of an immutable snapshot.</summary>
public class TokenSnapshotBenchmarks
{
    private const int ContendedReads = 1 << 20;

    private ProxyRoute _route = null!;

    [GlobalSetup]
    public async Task SetupAsync() => _route = await Fixtures.RouteWithTokenAsync(Fixtures.Options());

    [Benchmark]
    public bool Read()
    {
        var token = _route.Tokens.Current;
        return token is not null && token.IsUsableAt(TimeProvider.System.GetUtcNow());
    }

    /// <summary>Every core reads at once: the snapshot must not bounce a cache line (no writes, no lock).</summary>
    [Benchmark(OperationsPerInvoke = ContendedReads)]
    public int ReadContended()
    {
        var threads = Environment.ProcessorCount;
        var usable = 0;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            var local = 0;
            var tokens = _route.Tokens;
            var now = TimeProvider.System.GetUtcNow();
            for (var i = 0; i < ContendedReads / threads; i++)
            {
                if (tokens.Current is { } token && token.IsUsableAt(now))
                {
                    local++;
                }
            }

            Interlocked.Add(ref usable, local);
        });
        return usable;
    }
}
