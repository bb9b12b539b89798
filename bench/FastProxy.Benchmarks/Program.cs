using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace FastProxy.Benchmarks;

/// <summary>
/// Micro-benchmarks of FastProxy's hot path. Run all: <c>dotnet run -c Release --project
/// bench/FastProxy.Benchmarks --artifacts-path /tmp/art-bench -- --filter '*'</c>; the regression
/// gate (<c>bench/gate.sh</c>) runs them as a short in-process job.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var config = DefaultConfig.Instance
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithOptions(ConfigOptions.DisableLogFile);
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
