using Google.Protobuf;

namespace FastProxy.Protocol.Fuzz;

/// <summary>
/// Small starting inputs. AFL mutates small files far faster than the 10–50 KB real bodies, so
/// the run script adds those only alongside these.
/// </summary>
internal static class Seeds
{
    public static void Write(string directory)
    {
        Directory.CreateDirectory(directory);

        var v1 = new V1.WriteRequest
        {
            Timeseries =
            {
                new V1.TimeSeries
                {
                    Labels = { new V1.Label { Name = "__name__", Value = "up" }, new V1.Label { Name = "job", Value = "a" } },
                    Samples = { new V1.Sample { Value = 1, Timestamp = 1_700_000_000_000 } },
                    Exemplars = { new V1.Exemplar { Labels = { new V1.Label { Name = "trace_id", Value = "t" } }, Value = 2, Timestamp = 3 } },
                    Histograms =
                    {
                        new V1.Histogram
                        {
                            CountInt = 3,
                            Sum = 2,
                            Schema = 1,
                            PositiveSpans = { new V1.BucketSpan { Offset = -1, Length = 2 } },
                            PositiveDeltas = { 1, 1 },
                            Timestamp = 5,
                        },
                    },
                },
            },
            Metadata = { new V1.MetricMetadata { Type = V1.MetricMetadata.Types.MetricType.Gauge, MetricFamilyName = "up", Help = "h" } },
        };

        var v2 = new V2.Request
        {
            Symbols = { "", "__name__", "up", "job", "a", "help" },
            Timeseries =
            {
                new V2.TimeSeries
                {
                    LabelsRefs = { 1, 2, 3, 4 },
                    Samples = { new V2.Sample { Value = 1, Timestamp = 1_700_000_000_000, StartTimestamp = 1 } },
                    Exemplars = { new V2.Exemplar { LabelsRefs = { 3, 4 }, Value = 1, Timestamp = 2 } },
                    Histograms = { new V2.Histogram { CountFloat = 1, PositiveCounts = { 1 }, CustomValues = { 0.5 }, Timestamp = 4 } },
                    Metadata = new V2.Metadata { Type = V2.Metadata.Types.MetricType.Counter, HelpRef = 5 },
                },
            },
        };

        Write(directory, "v1.pb", v1.ToByteArray());
        Write(directory, "v1.snappy", SnappyBlockCodec.Compress(v1.ToByteArray()));
        Write(directory, "v2.pb", v2.ToByteArray());
        Write(directory, "v2.snappy", SnappyBlockCodec.Compress(v2.ToByteArray()));
        Write(directory, "framed.sz", [0xff, 0x06, 0x00, 0x00, .. "sNaPpY"u8, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61]);
    }

    private static void Write(string directory, string name, byte[] content) =>
        File.WriteAllBytes(Path.Combine(directory, name), content);
}
