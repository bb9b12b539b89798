using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using FastProxy.Protocol;
using Google.Protobuf;

namespace FastProxy.Benchmarks.Protocol;

/// <summary>
/// FastProxy.Protocol's hot paths on real Prometheus bodies: snappy decoding, the wire-level
/// summary (the sampling tap's work), the generated parser it avoids, and the optional 2.0 → 1.0
/// translation. The MB/s column is payload throughput (the fixture's uncompressed 1.0 message
/// size over the mean time), so rows compare directly; Allocated is per operation.
/// </summary>
[BenchmarkCategory("Protocol")]
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class PayloadSummaryBenchmarks
{
    private byte[] _body = null!;
    private byte[] _message = null!;
    private byte[] _buffer = null!;
    private byte[] _v2Body = null!;
    private byte[] _v2Message = null!;

    /// <summary>A 500-series body (Prometheus 2.42's default batch) and a 2000-series one (≥ 2.44's).</summary>
    [Params("batch-12826.snappy", "batch-48495.snappy")]
    public string Fixture { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _body = Fixtures.Body(Fixture);
        _message = SnappyBlockCodec.Decompress(_body);
        _buffer = new byte[_message.Length];
        _v2Message = ToV2(RemoteWriteMessages.ParseV1(_message)).ToByteArray();
        _v2Body = SnappyBlockCodec.Compress(_v2Message);
    }

    [Benchmark]
    public int SnappyDecompress() => SnappyBlockCodec.Decompress(_body, _buffer);

    /// <summary>What the diagnostics tap does per sampled request.</summary>
    [Benchmark]
    public PayloadSummary SummarizeSnappy() => PayloadSummaryReader.SummarizeSnappy(_body, RemoteWriteVersion.V1);

    [Benchmark]
    public PayloadSummary SummarizeProtobuf() => PayloadSummaryReader.SummarizeProtobuf(_message, RemoteWriteVersion.V1);

    /// <summary>The alternative the summary reader avoids: materialising every series.</summary>
    [Benchmark]
    public int GeneratedParser() => FastProxy.Protocol.V1.WriteRequest.Parser.ParseFrom(_message).Timeseries.Count;

    [Benchmark]
    public PayloadSummary SummarizeV2Protobuf() => PayloadSummaryReader.SummarizeProtobuf(_v2Message, RemoteWriteVersion.V2);

    /// <summary>The optional translation, body to body: decompress, parse, convert, encode, compress.</summary>
    [Benchmark]
    public byte[] ConvertV2SnappyToV1Snappy() => RemoteWriteConverter.ConvertV2SnappyToV1Snappy(_v2Body, out _);

    /// <summary>The fixture as Prometheus would send it with remote write 2.0.</summary>
    private static FastProxy.Protocol.V2.Request ToV2(FastProxy.Protocol.V1.WriteRequest v1)
    {
        var request = new FastProxy.Protocol.V2.Request { Symbols = { "" } };
        var symbols = new Dictionary<string, uint>(StringComparer.Ordinal) { [""] = 0 };
        uint Symbol(string text)
        {
            if (!symbols.TryGetValue(text, out var index))
            {
                index = (uint)request.Symbols.Count;
                request.Symbols.Add(text);
                symbols.Add(text, index);
            }

            return index;
        }

        foreach (var source in v1.Timeseries)
        {
            var series = new FastProxy.Protocol.V2.TimeSeries();
            foreach (var label in source.Labels)
            {
                series.LabelsRefs.Add(Symbol(label.Name));
                series.LabelsRefs.Add(Symbol(label.Value));
            }

            foreach (var sample in source.Samples)
            {
                series.Samples.Add(new FastProxy.Protocol.V2.Sample { Value = sample.Value, Timestamp = sample.Timestamp });
            }

            request.Timeseries.Add(series);
        }

        return request;
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new PayloadThroughputColumn());
    }

    /// <summary>MB/s of payload: the fixture's uncompressed 1.0 size (10^6 bytes) over the mean time.</summary>
    private sealed class PayloadThroughputColumn : IColumn
    {
        public string Id => nameof(PayloadThroughputColumn);

        public string ColumnName => "MB/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Payload throughput: the fixture's uncompressed 1.0 protobuf bytes (10^6) per second";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (summary[benchmarkCase]?.ResultStatistics is not { } statistics
                || benchmarkCase.Parameters["Fixture"] is not string fixture)
            {
                return "-";
            }

            // The column runs in the host process, so it reads the size itself.
            var bytes = SnappyBlockCodec.GetDecompressedLength(Fixtures.Body(fixture));
            return (bytes / (statistics.Mean / 1e9) / 1e6).ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
