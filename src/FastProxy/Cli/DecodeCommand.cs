using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FastProxy.Protocol;

namespace FastProxy.Cli;

/// <summary>
/// <c>fastproxy decode FILE|-</c>: says what a remote-write body holds. Input may be raw protobuf
/// or a snappy block, 1.0 or 2.0 (both detected unless chosen); output is a readable summary,
/// JSON with <c>--json</c>, and every series with <c>--series</c>.
/// </summary>
/// <remarks>
/// Every failure (unreadable file, not snappy, framed snappy, truncated, wrong message type, a
/// damaged field) is one line on stderr and exit code 1: the people running this are looking at a
/// misbehaving Prometheus, not at our stack.
/// </remarks>
internal static class DecodeCommand
{
    public const int InvalidInputExitCode = 1;

    public static Command Create() => Create(Console.OpenStandardInput);

    /// <summary>Creates the command reading <c>-</c> from <paramref name="openStandardInput"/> (tests pass their own).</summary>
    internal static Command Create(Func<Stream> openStandardInput)
    {
        var input = new Argument<string>("FILE")
        {
            Description = "The body to decode, or - for standard input.",
        };
        var compression = new Option<string>("--compression")
        {
            Description = "How the body is compressed: auto detects a snappy block, else raw protobuf.",
            DefaultValueFactory = _ => "auto",
            HelpName = "auto|snappy|none",
        };
        compression.AcceptOnlyFromAmong("auto", "snappy", "none");
        var version = new Option<string>("--version")
        {
            Description = "The remote-write version: auto detects it from the message's fields.",
            DefaultValueFactory = _ => "auto",
            HelpName = "auto|1|2",
        };
        version.AcceptOnlyFromAmong("auto", "1", "2");
        var json = new Option<bool>("--json") { Description = "Write JSON instead of text." };
        var series = new Option<bool>("--series") { Description = "Also list every series with its labels and samples." };
        var maxDecompressed = new Option<int>("--max-decompressed-bytes")
        {
            Description = "Refuse bodies that decompress to more than this many bytes (checked before decompressing).",
            DefaultValueFactory = _ => SnappyBlockCodec.DefaultMaxDecompressedBytes,
            HelpName = "bytes",
        };
        maxDecompressed.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() <= 0)
            {
                result.AddError("--max-decompressed-bytes must be greater than zero.");
            }
        });

        var command = new Command("decode", "Summarise a Prometheus remote-write request body (1.0 or 2.0, snappy or raw protobuf).")
        {
            input,
            compression,
            version,
            json,
            series,
            maxDecompressed,
        };

        command.SetAction(parse =>
        {
            var request = new DecodeRequest(
                parse.GetValue(input)!,
                parse.GetValue(compression) switch
                {
                    "snappy" => PayloadCompression.Snappy,
                    "none" => PayloadCompression.None,
                    _ => PayloadCompression.Auto,
                },
                parse.GetValue(version) switch
                {
                    "1" => RemoteWriteVersion.V1,
                    "2" => RemoteWriteVersion.V2,
                    _ => RemoteWriteVersion.Unknown,
                },
                parse.GetValue(json),
                parse.GetValue(series),
                parse.GetValue(maxDecompressed));
            return Run(request, openStandardInput, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    private static int Run(DecodeRequest request, Func<Stream> openStandardInput, TextWriter output, TextWriter error)
    {
        var name = request.Path == "-" ? "<stdin>" : request.Path;
        try
        {
            var body = ReadInput(request, openStandardInput);
            var summary = PayloadSummaryReader.Summarize(body, new PayloadSummaryOptions
            {
                Compression = request.Compression,
                Version = request.Version,
                MaxDecompressedBytes = request.MaxDecompressedBytes,
            });
            var decoded = request.Series ? DecodeSeries(body, summary, request.MaxDecompressedBytes) : null;

            if (request.Json)
            {
                output.WriteLine(JsonSerializer.Serialize(JsonReport.Create(name, summary, decoded), DecodeJsonContext.Default.JsonReport));
            }
            else
            {
                WriteText(output, name, summary, decoded);
            }

            return 0;
        }
        catch (RemoteWriteFormatException ex)
        {
            error.WriteLine($"fastproxy decode: {name}: {ex.Message}");
        }
        catch (InputException ex)
        {
            error.WriteLine($"fastproxy decode: {name}: {ex.Message}");
        }

        return InvalidInputExitCode;
    }

    private static byte[] ReadInput(DecodeRequest request, Func<Stream> openStandardInput)
    {
        // A snappy block of the largest accepted message is at most this long; anything longer is
        // refused before it is read whole.
        long limit = SnappyBlockCodec.GetMaxCompressedLength(request.MaxDecompressedBytes);
        try
        {
            if (request.Path != "-")
            {
                if (Directory.Exists(request.Path))
                {
                    throw new InputException("is a directory, not a file");
                }

                var info = new FileInfo(request.Path);
                if (!info.Exists)
                {
                    throw new InputException("file not found");
                }

                if (info.Length > limit)
                {
                    throw new InputException(string.Create(
                        CultureInfo.InvariantCulture,
                        $"the file is {info.Length} bytes, more than any body within the {request.MaxDecompressedBytes}-byte limit can be (see --max-decompressed-bytes)"));
                }

                return File.ReadAllBytes(request.Path);
            }

            using var stdin = openStandardInput();
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = stdin.Read(chunk)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    throw new InputException(string.Create(
                        CultureInfo.InvariantCulture,
                        $"standard input is more than {limit} bytes, more than any body within the {request.MaxDecompressedBytes}-byte limit can be (see --max-decompressed-bytes)"));
                }

                buffer.Write(chunk, 0, read);
            }

            return buffer.ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read: {ex.Message}");
        }
    }

    /// <summary>Materialises every series through the generated types; only for <c>--series</c>.</summary>
    private static DecodedPayload DecodeSeries(byte[] body, PayloadSummary summary, int maxDecompressedBytes)
    {
        var message = summary.Compression == PayloadCompression.Snappy
            ? SnappyBlockCodec.Decompress(body, maxDecompressedBytes)
            : body;

        if (summary.Version == RemoteWriteVersion.V2)
        {
            // 2.0 shares strings that a listing repeats; the translation's size check keeps a
            // small body from expanding into an unbounded listing.
            var request = RemoteWriteMessages.ParseV2(message);
            RemoteWriteConverter.ConvertV2ToV1(request, maxDecompressedBytes);
            return FromV2(request);
        }

        var v1 = RemoteWriteMessages.ParseV1(message);
        var series = v1.Timeseries.Select(source => new DecodedSeries(
            [.. source.Labels.Select(label => new DecodedLabel(label.Name, label.Value))],
            [.. source.Samples.Select(sample => new DecodedSample(sample.Value, sample.Timestamp, null))],
            [.. source.Histograms.Select(h => new DecodedHistogram(
                h.CountCase == Protocol.V1.Histogram.CountOneofCase.CountFloat ? h.CountFloat : h.CountInt,
                h.Sum,
                h.Schema,
                h.Timestamp))],
            [.. source.Exemplars.Select(exemplar => new DecodedExemplar(
                [.. exemplar.Labels.Select(label => new DecodedLabel(label.Name, label.Value))],
                exemplar.Value,
                exemplar.Timestamp))],
            null)).ToList();
        var metadata = v1.Metadata.Select(entry => new DecodedMetadata(
            entry.MetricFamilyName,
            entry.Type.ToString().ToLowerInvariant(),
            entry.Help,
            entry.Unit)).ToList();
        return new DecodedPayload(series, metadata);
    }

    private static DecodedPayload FromV2(Protocol.V2.Request request)
    {
        var symbols = request.Symbols;

        string Resolve(uint reference, string field) =>
            reference < (uint)symbols.Count
                ? symbols[(int)reference]
                : throw new RemoteWriteFormatException(
                    RemoteWriteFormatError.InvalidReference,
                    string.Create(CultureInfo.InvariantCulture, $"symbol reference {reference} is outside the symbols table ({symbols.Count} entries)"),
                    field);

        List<DecodedLabel> Labels(IList<uint> refs, string field)
        {
            var labels = new List<DecodedLabel>(refs.Count / 2);
            for (var i = 0; i + 1 < refs.Count; i += 2)
            {
                labels.Add(new DecodedLabel(Resolve(refs[i], field), Resolve(refs[i + 1], field)));
            }

            return labels;
        }

        var series = request.Timeseries.Select(source => new DecodedSeries(
            Labels(source.LabelsRefs, "io.prometheus.write.v2.TimeSeries.labels_refs"),
            [.. source.Samples.Select(sample => new DecodedSample(sample.Value, sample.Timestamp, sample.StartTimestamp == 0 ? null : sample.StartTimestamp))],
            [.. source.Histograms.Select(h => new DecodedHistogram(
                h.CountCase == Protocol.V2.Histogram.CountOneofCase.CountFloat ? h.CountFloat : h.CountInt,
                h.Sum,
                h.Schema,
                h.Timestamp))],
            [.. source.Exemplars.Select(exemplar => new DecodedExemplar(
                Labels(exemplar.LabelsRefs, "io.prometheus.write.v2.Exemplar.labels_refs"),
                exemplar.Value,
                exemplar.Timestamp))],
            source.Metadata is { } metadata && (metadata.Type != 0 || metadata.HelpRef != 0 || metadata.UnitRef != 0)
                ? new DecodedMetadata(
                    null,
                    metadata.Type.ToString().ToLowerInvariant(),
                    Resolve(metadata.HelpRef, "io.prometheus.write.v2.Metadata.help_ref"),
                    Resolve(metadata.UnitRef, "io.prometheus.write.v2.Metadata.unit_ref"))
                : null)).ToList();
        return new DecodedPayload(series, []);
    }

    private static void WriteText(TextWriter output, string name, PayloadSummary summary, DecodedPayload? decoded)
    {
        var text = new StringBuilder();
        var ratio = summary.CompressedBytes == 0 ? 1 : (double)summary.UncompressedBytes / summary.CompressedBytes;
        text.AppendLine(CultureInfo.InvariantCulture, $"file:              {name}");
        text.AppendLine(CultureInfo.InvariantCulture, $"version:           {DescribeVersion(summary.Version)}");
        if (summary.Compression == PayloadCompression.Snappy)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"compression:       snappy block, {summary.CompressedBytes} bytes -> {summary.UncompressedBytes} bytes (x{ratio:0.00})");
        }
        else
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"compression:       none, {summary.UncompressedBytes} bytes");
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"series:            {summary.Series}");
        text.AppendLine(CultureInfo.InvariantCulture, $"samples:           {summary.Samples}");
        text.AppendLine(CultureInfo.InvariantCulture, $"histograms:        {summary.Histograms}");
        text.AppendLine(CultureInfo.InvariantCulture, $"exemplars:         {summary.Exemplars}");
        text.AppendLine(CultureInfo.InvariantCulture, $"metadata entries:  {summary.MetadataEntries}");
        text.AppendLine(CultureInfo.InvariantCulture, $"metric names:      {summary.DistinctMetricNames}");
        if (summary.Series > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"labels per series: min {summary.MinLabelsPerSeries}, max {summary.MaxLabelsPerSeries}, mean {summary.MeanLabelsPerSeries:0.00}");
        }

        if (summary is { MinTimestampMs: { } min, MaxTimestampMs: { } max })
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"timestamps:        {min} ({FormatTime(min)}) .. {max} ({FormatTime(max)}), span {max - min} ms");
        }
        else
        {
            text.AppendLine("timestamps:        none (no samples)");
        }

        if (summary.TopMetricNames.Count > 0)
        {
            text.AppendLine("top metric names by series:");
            foreach (var metric in summary.TopMetricNames)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {metric.Series,7}  {metric.Name}");
            }
        }

        if (decoded is not null)
        {
            AppendSeries(text, decoded);
        }

        output.Write(text.ToString());
    }

    private static void AppendSeries(StringBuilder text, DecodedPayload decoded)
    {
        for (var i = 0; i < decoded.Series.Count; i++)
        {
            var series = decoded.Series[i];
            text.AppendLine();
            text.Append(CultureInfo.InvariantCulture, $"series {i}: {{");
            text.AppendJoin(", ", series.Labels.Select(label => $"{label.Name}=\"{label.Value}\""));
            text.AppendLine("}");
            foreach (var sample in series.Samples)
            {
                text.Append(CultureInfo.InvariantCulture, $"  sample     {sample.TimestampMs}  {FormatTime(sample.TimestampMs)}  {FormatValue(sample.Value)}");
                text.AppendLine(sample.StartTimestampMs is { } start ? string.Create(CultureInfo.InvariantCulture, $"  (start {start})") : "");
            }

            foreach (var histogram in series.Histograms)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  histogram  {histogram.TimestampMs}  {FormatTime(histogram.TimestampMs)}  count={FormatValue(histogram.Count)} sum={FormatValue(histogram.Sum)} schema={histogram.Schema}");
            }

            foreach (var exemplar in series.Exemplars)
            {
                text.Append(CultureInfo.InvariantCulture, $"  exemplar   {exemplar.TimestampMs}  {FormatTime(exemplar.TimestampMs)}  {FormatValue(exemplar.Value)}  {{");
                text.AppendJoin(", ", exemplar.Labels.Select(label => $"{label.Name}=\"{label.Value}\""));
                text.AppendLine("}");
            }

            if (series.Metadata is { } metadata)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  metadata   type={metadata.Type} unit=\"{metadata.Unit}\" help=\"{metadata.Help}\"");
            }
        }

        foreach (var metadata in decoded.Metadata)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"metadata {metadata.MetricFamilyName}: type={metadata.Type} unit=\"{metadata.Unit}\" help=\"{metadata.Help}\"");
        }
    }

    private static string DescribeVersion(RemoteWriteVersion version) => version switch
    {
        RemoteWriteVersion.V2 => "remote-write 2.0 (io.prometheus.write.v2.Request)",
        _ => "remote-write 1.0 (prometheus.WriteRequest)",
    };

    private static string FormatValue(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>ISO 8601 UTC, or a note when a (damaged or synthetic) timestamp is outside what a date can show.</summary>
    internal static string FormatTime(long timestampMs) =>
        timestampMs is >= -62_135_596_800_000 and <= 253_402_300_799_999
            ? DateTimeOffset.FromUnixTimeMilliseconds(timestampMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)
            : "out-of-range";

    private sealed record DecodeRequest(
        string Path,
        PayloadCompression Compression,
        RemoteWriteVersion Version,
        bool Json,
        bool Series,
        int MaxDecompressedBytes);

    /// <summary>A problem with the input itself rather than its contents (missing, unreadable, too long).</summary>
    private sealed class InputException(string message) : Exception(message);

    internal sealed record DecodedPayload(IReadOnlyList<DecodedSeries> Series, IReadOnlyList<DecodedMetadata> Metadata);

    internal sealed record DecodedSeries(
        IReadOnlyList<DecodedLabel> Labels,
        IReadOnlyList<DecodedSample> Samples,
        IReadOnlyList<DecodedHistogram> Histograms,
        IReadOnlyList<DecodedExemplar> Exemplars,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DecodedMetadata? Metadata);

    internal sealed record DecodedLabel(string Name, string Value);

    internal sealed record DecodedSample(
        double Value,
        long TimestampMs,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? StartTimestampMs)
    {
        public string Time => FormatTime(TimestampMs);
    }

    internal sealed record DecodedHistogram(double Count, double Sum, int Schema, long TimestampMs)
    {
        public string Time => FormatTime(TimestampMs);
    }

    internal sealed record DecodedExemplar(IReadOnlyList<DecodedLabel> Labels, double Value, long TimestampMs)
    {
        public string Time => FormatTime(TimestampMs);
    }

    internal sealed record DecodedMetadata(
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? MetricFamilyName,
        string Type,
        string Help,
        string Unit);

    /// <summary>The JSON document; property names follow the fixtures' README (snake_case).</summary>
    internal sealed record JsonReport(
        string File,
        string Version,
        string Compression,
        long CompressedBytes,
        long UncompressedBytes,
        int Series,
        long Samples,
        long Exemplars,
        long Histograms,
        int Metadata,
        int MetricNames,
        IReadOnlyList<MetricNameCount> TopMetricNames,
        int MinLabelsPerSeries,
        int MaxLabelsPerSeries,
        double MeanLabelsPerSeries,
        long? MinTimestampMs,
        long? MaxTimestampMs,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<DecodedSeries>? Timeseries,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<DecodedMetadata>? MetadataEntries)
    {
        public static JsonReport Create(string file, PayloadSummary summary, DecodedPayload? decoded) => new(
            file,
            summary.Version == RemoteWriteVersion.V2 ? "2.0" : "1.0",
            summary.Compression == PayloadCompression.Snappy ? "snappy" : "none",
            summary.CompressedBytes,
            summary.UncompressedBytes,
            summary.Series,
            summary.Samples,
            summary.Exemplars,
            summary.Histograms,
            summary.MetadataEntries,
            summary.DistinctMetricNames,
            summary.TopMetricNames,
            summary.MinLabelsPerSeries,
            summary.MaxLabelsPerSeries,
            summary.MeanLabelsPerSeries,
            summary.MinTimestampMs,
            summary.MaxTimestampMs,
            decoded?.Series,
            decoded?.Metadata);
    }
}

/// <summary>
/// Source-generated serialisation for <c>decode --json</c>: the executable is native AOT, where
/// reflection-based serialisation is unavailable. Named floating-point literals are allowed
/// because Prometheus marks stale series with NaN samples.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(DecodeCommand.JsonReport))]
internal sealed partial class DecodeJsonContext : JsonSerializerContext;
