using BenchmarkDotNet.Attributes;

namespace FastProxy.Benchmarks;

/// <summary>
/// A fixed, allocation-free CPU workload. The regression gate divides every benchmark's time by
/// this one's from the same run, so a slower or busier machine moves both and the ratio stays.
/// </summary>
public class ReferenceBenchmarks
{
    private readonly byte[] _data = new byte[16 * 1024];

    [GlobalSetup]
    public void Setup() => new Random(42).NextBytes(_data);

    /// <summary>FNV-1a over 16 KB: scalar, branch-free, memory-resident.</summary>
    [Benchmark]
    public uint Fnv1a16K()
    {
        var hash = 2166136261u;
        foreach (var b in _data)
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }
}
