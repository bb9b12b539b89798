using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using FastProxy.Cli;
using FastProxy.Protocol;
using Google.Protobuf;

namespace FastProxy.Tests.Cli;

public sealed class DecodeCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-decode-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void RealPrometheusBody_PrintsReadableSummary()
    {
        var result = Run(Fixture("batch-12826.snappy"));

        Assert.Equal(0, result.ExitCode);
        Assert.Empty(result.Error);
        Assert.Contains("remote-write 1.0 (prometheus.WriteRequest)", result.Output, StringComparison.Ordinal);
        Assert.Contains("snappy block, 12826 bytes -> 71425 bytes", result.Output, StringComparison.Ordinal);
        Assert.Contains("series:            500", result.Output, StringComparison.Ordinal);
        Assert.Contains("metric names:      171", result.Output, StringComparison.Ordinal);
        Assert.Contains("1795715804679 (2026-11-26T17:56:44.679Z)", result.Output, StringComparison.Ordinal);
        Assert.Contains("top metric names by series:", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("batch-48495.snappy", 48495, 321506, 2000, 461, 1795716126258L, 1795716127614L)]
    [InlineData("batch-9402.snappy", 9402, 22161, 0, 0, null, null)]
    public void Json_CarriesTheReadmeFields(string name, long compressed, long uncompressed, int series, int metricNames, long? minTimestamp, long? maxTimestamp)
    {
        var result = Run("--json", Fixture(name));

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal("1.0", root.GetProperty("version").GetString());
        Assert.Equal("snappy", root.GetProperty("compression").GetString());
        Assert.Equal(compressed, root.GetProperty("compressed_bytes").GetInt64());
        Assert.Equal(uncompressed, root.GetProperty("uncompressed_bytes").GetInt64());
        Assert.Equal(series, root.GetProperty("series").GetInt32());
        Assert.Equal(series, root.GetProperty("samples").GetInt64());
        Assert.Equal(metricNames, root.GetProperty("metric_names").GetInt32());
        Assert.Equal(minTimestamp, Nullable(root.GetProperty("min_timestamp_ms")));
        Assert.Equal(maxTimestamp, Nullable(root.GetProperty("max_timestamp_ms")));
        Assert.False(root.TryGetProperty("timeseries", out _));
    }

    [Fact]
    public void Series_ListsLabelsAndSamplesWithIsoTime()
    {
        var request = new Protocol.V1.WriteRequest
        {
            Timeseries =
            {
                new Protocol.V1.TimeSeries
                {
                    Labels = { Label("__name__", "up"), Label("job", "api") },
                    Samples = { new Protocol.V1.Sample { Value = 1, Timestamp = 1_700_000_000_000 } },
                },
            },
        };

        var result = Run("--series", Write("up.snappy", SnappyBlockCodec.Compress(request.ToByteArray())));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("series 0: {__name__=\"up\", job=\"api\"}", result.Output, StringComparison.Ordinal);
        Assert.Contains("sample     1700000000000  2023-11-14T22:13:20.000Z  1", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void V2RawBody_JsonSeriesResolvesSymbols()
    {
        var request = new Protocol.V2.Request
        {
            Symbols = { "", "__name__", "requests_total", "Requests.", "NaN-marked" },
            Timeseries =
            {
                new Protocol.V2.TimeSeries
                {
                    LabelsRefs = { 1, 2 },
                    Samples =
                    {
                        new Protocol.V2.Sample { Value = 5, Timestamp = 2000, StartTimestamp = 1000 },
                        new Protocol.V2.Sample { Value = double.NaN, Timestamp = 3000 },
                    },
                    Metadata = new Protocol.V2.Metadata { Type = Protocol.V2.Metadata.Types.MetricType.Counter, HelpRef = 3 },
                },
            },
        };

        var result = Run("--json", "--series", Write("v2.bin", request.ToByteArray()));

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal("2.0", root.GetProperty("version").GetString());
        Assert.Equal("none", root.GetProperty("compression").GetString());
        var series = root.GetProperty("timeseries")[0];
        Assert.Equal("requests_total", series.GetProperty("labels")[0].GetProperty("value").GetString());
        var samples = series.GetProperty("samples");
        Assert.Equal(1000, samples[0].GetProperty("start_timestamp_ms").GetInt64());
        Assert.Equal("1970-01-01T00:00:02.000Z", samples[0].GetProperty("time").GetString());
        Assert.Equal("NaN", samples[1].GetProperty("value").GetString());
        Assert.Equal("counter", series.GetProperty("metadata").GetProperty("type").GetString());
        Assert.Equal("Requests.", series.GetProperty("metadata").GetProperty("help").GetString());
    }

    [Fact]
    public void StandardInput_IsReadForDash()
    {
        var body = File.ReadAllBytes(Fixture("batch-9413.snappy"));

        var result = Run(() => new MemoryStream(body), "-");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("file:              <stdin>", result.Output, StringComparison.Ordinal);
        Assert.Contains("metadata entries:  202", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFile_FailsWithOneLine()
    {
        var result = Run(Path.Combine(_directory, "absent.snappy"));

        AssertOneLineFailure(result, "file not found");
    }

    [Fact]
    public void FramedSnappy_IsNamed()
    {
        byte[] framed = [0xff, 0x06, 0x00, 0x00, .. "sNaPpY"u8, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61];

        var result = Run(Write("framed.sz", framed));

        AssertOneLineFailure(result, "framed snappy");
    }

    [Fact]
    public void TruncatedBody_IsNamed()
    {
        var body = File.ReadAllBytes(Fixture("batch-12826.snappy"));

        var result = Run(Write("cut.snappy", body[..12000]));

        AssertOneLineFailure(result, "truncated");
    }

    [Fact]
    public void TextFile_IsNotSnappy()
    {
        var result = Run("--compression", "snappy", Write("notes.txt", "hello, world\n"u8.ToArray()));

        AssertOneLineFailure(result, "not snappy");
    }

    [Fact]
    public void WrongVersionChosen_SaysWrongMessageType()
    {
        var result = Run("--version", "2", Fixture("batch-9402.snappy"));

        AssertOneLineFailure(result, "wrong message type");
    }

    [Fact]
    public void DamagedField_NamesTheField()
    {
        // One series whose sample timestamp arrives as bytes instead of a varint.
        byte[] sample = [0x12, 0x01, 0x07];
        byte[] series = [0x12, (byte)sample.Length, .. sample];
        byte[] message = [0x0a, (byte)series.Length, .. series];

        var result = Run("--compression", "none", Write("damaged.bin", message));

        AssertOneLineFailure(result, "prometheus.Sample.timestamp in timeseries[0]");
    }

    [Fact]
    public void DecompressedSizeLimit_IsEnforced()
    {
        // The preamble is checked before decompressing...
        var announced = Run("--max-decompressed-bytes", "70000", Fixture("batch-12826.snappy"));
        AssertOneLineFailure(announced, "announces 71425 bytes, over the 70000-byte limit");

        // ...and a file too long to be any body within the limit is not even read whole.
        var tooLong = Run("--max-decompressed-bytes", "1000", Fixture("batch-12826.snappy"));
        AssertOneLineFailure(tooLong, "1000-byte limit");
    }

    [Fact]
    public void UnknownCompression_IsAParseError()
    {
        var result = Run("--compression", "gzip", Fixture("batch-12826.snappy"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("gzip", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "1970-01-01T00:00:00.000Z")]
    [InlineData(-1, "1969-12-31T23:59:59.999Z")]
    [InlineData(long.MaxValue, "out-of-range")]
    [InlineData(long.MinValue, "out-of-range")]
    public void FormatTime_NeverThrows(long timestampMs, string expected)
    {
        Assert.Equal(expected, DecodeCommand.FormatTime(timestampMs));
    }

    private static void AssertOneLineFailure(CommandResult result, string expected)
    {
        Assert.Equal(DecodeCommand.InvalidInputExitCode, result.ExitCode);
        Assert.Empty(result.Output);
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("fastproxy decode: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    private static CommandResult Run(params string[] args) => Run(() => new MemoryStream(), args);

    private static CommandResult Run(Func<Stream> standardInput, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = DecodeCommand.Create(standardInput)
            .Parse(args)
            .Invoke(new InvocationConfiguration { Output = output, Error = error });
        return new CommandResult(exitCode, output.ToString(), error.ToString());
    }

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static string Fixture(string name) => Support.Repository.FixturePath(name);

    private static Protocol.V1.Label Label(string name, string value) => new() { Name = name, Value = value };

    private static long? Nullable(JsonElement element) => element.ValueKind == JsonValueKind.Null ? null : element.GetInt64();

    private sealed record CommandResult(int ExitCode, string Output, string Error);
}
