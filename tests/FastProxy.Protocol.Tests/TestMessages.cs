using Google.Protobuf;

namespace FastProxy.Protocol.Tests;

/// <summary>Small, readable requests of both versions for example-based tests.</summary>
internal static class TestMessages
{
    public static V1.WriteRequest V1Request()
    {
        var request = new V1.WriteRequest();
        request.Timeseries.Add(V1Series(["__name__", "http_requests_total", "job", "api", "code", "200"], (1.0, 1000), (2.0, 2000)));
        request.Timeseries.Add(V1Series(["__name__", "http_requests_total", "job", "api", "code", "500"], (3.0, 1500)));
        request.Timeseries.Add(V1Series(["__name__", "up", "job", "api"], (1.0, 900)));
        request.Timeseries.Add(V1Series(["job", "nameless"], (5.0, 3000)));

        var histogramSeries = V1Series(["__name__", "latency_seconds", "job", "api"]);
        histogramSeries.Histograms.Add(new V1.Histogram
        {
            CountInt = 4,
            Sum = 1.5,
            Schema = 3,
            ZeroThreshold = 1e-128,
            ZeroCountInt = 1,
            PositiveSpans = { new V1.BucketSpan { Offset = -2, Length = 2 } },
            PositiveDeltas = { 1, 2 },
            Timestamp = 500,
        });
        histogramSeries.Exemplars.Add(new V1.Exemplar
        {
            Labels = { new V1.Label { Name = "trace_id", Value = "abc" } },
            Value = 0.3,
            Timestamp = 499,
        });
        request.Timeseries.Add(histogramSeries);

        request.Metadata.Add(new V1.MetricMetadata
        {
            Type = V1.MetricMetadata.Types.MetricType.Counter,
            MetricFamilyName = "http_requests_total",
            Help = "Requests.",
        });
        return request;
    }

    public static V1.TimeSeries V1Series(string[] labels, params (double Value, long Timestamp)[] samples)
    {
        var series = new V1.TimeSeries();
        for (var i = 0; i < labels.Length; i += 2)
        {
            series.Labels.Add(new V1.Label { Name = labels[i], Value = labels[i + 1] });
        }

        foreach (var (value, timestamp) in samples)
        {
            series.Samples.Add(new V1.Sample { Value = value, Timestamp = timestamp });
        }

        return series;
    }

    /// <summary>A 2.0 request: two counter series, a classic histogram bucket, a native histogram and a metadata-only series.</summary>
    public static V2.Request V2Request()
    {
        var symbols = new SymbolTable();
        var request = new V2.Request();

        var counter = V2Series(symbols, ["__name__", "http_requests_total", "code", "200"]);
        counter.Samples.Add(new V2.Sample { Value = 10, Timestamp = 2000, StartTimestamp = 1000 });
        counter.Metadata = Metadata(symbols, V2.Metadata.Types.MetricType.Counter, "Requests served.", "");
        counter.Exemplars.Add(new V2.Exemplar { Value = 1, Timestamp = 1999, LabelsRefs = { symbols["trace_id"], symbols["t1"] } });
        request.Timeseries.Add(counter);

        var counter500 = V2Series(symbols, ["__name__", "http_requests_total", "code", "500"]);
        counter500.Samples.Add(new V2.Sample { Value = 2, Timestamp = 2100 });
        counter500.Samples.Add(new V2.Sample { Value = 3, Timestamp = 2200 });
        counter500.Metadata = Metadata(symbols, V2.Metadata.Types.MetricType.Counter, "Requests served.", "");
        request.Timeseries.Add(counter500);

        var bucket = V2Series(symbols, ["__name__", "rpc_seconds_bucket", "le", "0.5"]);
        bucket.Samples.Add(new V2.Sample { Value = 7, Timestamp = 1900 });
        bucket.Metadata = Metadata(symbols, V2.Metadata.Types.MetricType.Histogram, "RPC latency.", "seconds");
        request.Timeseries.Add(bucket);

        var native = V2Series(symbols, ["__name__", "native_seconds"]);
        native.Histograms.Add(new V2.Histogram
        {
            CountFloat = 3.5,
            Sum = 9,
            Schema = -53,
            ZeroCountFloat = 0.5,
            PositiveSpans = { new V2.BucketSpan { Offset = 0, Length = 2 } },
            PositiveCounts = { 1, 2 },
            CustomValues = { 0.1, 0.2 },
            ResetHint = V2.Histogram.Types.ResetHint.Gauge,
            Timestamp = 2500,
            StartTimestamp = 100,
        });
        native.Metadata = Metadata(symbols, V2.Metadata.Types.MetricType.Gaugehistogram, "", "");
        request.Timeseries.Add(native);

        var metadataOnly = V2Series(symbols, ["__name__", "build_info", "version", "1.0"]);
        metadataOnly.Metadata = Metadata(symbols, V2.Metadata.Types.MetricType.Info, "Build information.", "");
        request.Timeseries.Add(metadataOnly);

        request.Symbols.AddRange(symbols.Strings);
        return request;
    }

    public static V2.TimeSeries V2Series(SymbolTable symbols, string[] labels)
    {
        var series = new V2.TimeSeries();
        foreach (var label in labels)
        {
            series.LabelsRefs.Add(symbols[label]);
        }

        return series;
    }

    public static V2.Metadata Metadata(SymbolTable symbols, V2.Metadata.Types.MetricType type, string help, string unit) =>
        new() { Type = type, HelpRef = symbols[help], UnitRef = symbols[unit] };

    public static byte[] Snappy(IMessage message) => SnappyBlockCodec.Compress(message.ToByteArray());

    /// <summary>Builds a 2.0 symbols table; index 0 is the empty string, as the specification requires.</summary>
    internal sealed class SymbolTable
    {
        private readonly Dictionary<string, uint> _indices = new(StringComparer.Ordinal) { [""] = 0 };

        public List<string> Strings { get; } = [""];

        public uint this[string symbol]
        {
            get
            {
                if (!_indices.TryGetValue(symbol, out var index))
                {
                    index = (uint)Strings.Count;
                    Strings.Add(symbol);
                    _indices.Add(symbol, index);
                }

                return index;
            }
        }
    }
}
