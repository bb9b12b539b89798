using System.Buffers;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Collections;

namespace FastProxy.Protocol;

/// <summary>How many samples, histograms and exemplars a request carried, for the 2.0 <c>*-Written</c> response headers.</summary>
/// <param name="Samples">Float samples (<see cref="RemoteWriteHeaders.SamplesWrittenHeader"/>).</param>
/// <param name="Histograms">Native histogram samples (<see cref="RemoteWriteHeaders.HistogramsWrittenHeader"/>).</param>
/// <param name="Exemplars">Exemplars (<see cref="RemoteWriteHeaders.ExemplarsWrittenHeader"/>).</param>
public readonly record struct RemoteWriteCounts(long Samples, long Histograms, long Exemplars);

/// <summary>The result of translating a 2.0 request to 1.0.</summary>
/// <param name="Request">The 1.0 request.</param>
/// <param name="Written">What the 1.0 request carries, to report in the 2.0 response headers once the target accepts it.</param>
public sealed record RemoteWriteConversion(V1.WriteRequest Request, RemoteWriteCounts Written);

/// <summary>
/// Translates remote-write 2.0 requests into 1.0 requests, for targets that accept only 1.0
/// (Azure Monitor documents only 1.0).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Labels, samples, native histograms and exemplars are resolved from the symbols table and
/// copied. 1.0 has no start timestamp, so <c>start_timestamp</c> of samples and histograms is
/// dropped.</item>
/// <item>Metadata moves from the series to the request: one <c>MetricMetadata</c> per metric
/// family, the first non-empty one seen. The family name is the series' <c>__name__</c>, less the
/// <c>_bucket</c>/<c>_sum</c>/<c>_count</c> (<c>_gsum</c>/<c>_gcount</c>) suffix of a classic
/// histogram or summary series, as Prometheus names 1.0 metadata.</item>
/// <item>A series with no samples, histograms or exemplars (2.0 allows one just to carry metadata)
/// is not emitted: 1.0 has no use for it once its metadata has moved.</item>
/// </list>
/// </remarks>
public static class RemoteWriteConverter
{
    /// <summary>Translates a parsed 2.0 request.</summary>
    /// <param name="request">The 2.0 request.</param>
    /// <param name="maxV1Bytes">
    /// The largest 1.0 encoding accepted. 2.0 references each string by index, so a small request
    /// can expand many times over when every reference becomes a copy; the translation stops
    /// before allocating past this size.
    /// </param>
    /// <returns>The 1.0 request and what it carries.</returns>
    /// <exception cref="RemoteWriteFormatException">
    /// A symbol reference is out of range, a reference list has an odd length, or the translation
    /// would exceed <paramref name="maxV1Bytes"/>.
    /// </exception>
    public static RemoteWriteConversion ConvertV2ToV1(V2.Request request, int maxV1Bytes = SnappyBlockCodec.DefaultMaxDecompressedBytes)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegative(maxV1Bytes);
        var symbols = request.Symbols;
        var budget = new SizeBudget(symbols, maxV1Bytes);
        var result = new V1.WriteRequest();
        var families = new Dictionary<string, V1.MetricMetadata>(StringComparer.Ordinal);
        long samples = 0, histograms = 0, exemplars = 0;

        for (var index = 0; index < request.Timeseries.Count; index++)
        {
            var source = request.Timeseries[index];
            var hasData = source.Samples.Count != 0 || source.Histograms.Count != 0 || source.Exemplars.Count != 0;

            // A metadata-only series is not emitted, so only its metadata counts against the budget.
            var labels = ResolveLabels(source.LabelsRefs, symbols, "io.prometheus.write.v2.TimeSeries.labels_refs", index, hasData ? budget : null);
            AddMetadata(families, labels, source.Metadata, symbols, index, budget);
            if (!hasData)
            {
                continue;
            }

            var series = new V1.TimeSeries();
            series.Labels.AddRange(labels);
            budget.Add(SeriesOverhead + ((long)source.Samples.Count * SampleBytes));
            foreach (var sample in source.Samples)
            {
                series.Samples.Add(new V1.Sample { Value = sample.Value, Timestamp = sample.Timestamp });
            }

            foreach (var histogram in source.Histograms)
            {
                // The 1.0 message is the 2.0 one less start_timestamp, so this bounds it.
                budget.Add(histogram.CalculateSize() + EmbeddedOverhead);
                series.Histograms.Add(ConvertHistogram(histogram));
            }

            foreach (var exemplar in source.Exemplars)
            {
                budget.Add(ExemplarBytes);
                var converted = new V1.Exemplar { Value = exemplar.Value, Timestamp = exemplar.Timestamp };
                converted.Labels.AddRange(ResolveLabels(exemplar.LabelsRefs, symbols, "io.prometheus.write.v2.Exemplar.labels_refs", index, budget));
                series.Exemplars.Add(converted);
            }

            samples += series.Samples.Count;
            histograms += series.Histograms.Count;
            exemplars += series.Exemplars.Count;
            result.Timeseries.Add(series);
        }

        result.Metadata.AddRange(families.Values);
        return new RemoteWriteConversion(result, new RemoteWriteCounts(samples, histograms, exemplars));
    }

    /// <summary>Parses and translates an uncompressed 2.0 message.</summary>
    /// <param name="message">The protobuf bytes of an <c>io.prometheus.write.v2.Request</c>.</param>
    /// <param name="maxV1Bytes">The largest 1.0 encoding accepted (see <see cref="ConvertV2ToV1(V2.Request, int)"/>).</param>
    /// <returns>The 1.0 request and what it carries.</returns>
    /// <exception cref="RemoteWriteFormatException">The message is malformed, is not a 2.0 request, has a bad symbol reference, or translates to more than <paramref name="maxV1Bytes"/>.</exception>
    public static RemoteWriteConversion ConvertV2ToV1(ReadOnlySpan<byte> message, int maxV1Bytes = SnappyBlockCodec.DefaultMaxDecompressedBytes) =>
        ConvertV2ToV1(RemoteWriteMessages.ParseV2(message), maxV1Bytes);

    /// <summary>
    /// Translates a snappy-compressed 2.0 body into a snappy-compressed 1.0 body, ready to forward
    /// with <see cref="RemoteWriteHeaders.ContentTypeV1"/> and <see cref="RemoteWriteHeaders.Version1"/>.
    /// </summary>
    /// <param name="body">The 2.0 body as received.</param>
    /// <param name="written">What the 1.0 body carries, for the 2.0 response headers.</param>
    /// <param name="maxDecompressedBytes">The largest uncompressed size accepted, for the 2.0 message (checked before decompressing) and for its 1.0 translation.</param>
    /// <returns>The compressed 1.0 body.</returns>
    /// <exception cref="RemoteWriteFormatException">The body is not a readable 2.0 request, or its translation is over the limit.</exception>
    public static byte[] ConvertV2SnappyToV1Snappy(
        ReadOnlySpan<byte> body,
        out RemoteWriteCounts written,
        int maxDecompressedBytes = SnappyBlockCodec.DefaultMaxDecompressedBytes)
    {
        V1.WriteRequest request;
        using (var message = SnappyBlockCodec.DecompressPooled(body, maxDecompressedBytes))
        {
            var conversion = ConvertV2ToV1(message.Memory.Span, maxDecompressedBytes);
            request = conversion.Request;
            written = conversion.Written;
        }

        var size = request.CalculateSize();
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            request.WriteTo(buffer.AsSpan(0, size));
            return SnappyBlockCodec.Compress(buffer.AsSpan(0, size));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static List<V1.Label> ResolveLabels(
        RepeatedField<uint> refs,
        RepeatedField<string> symbols,
        string field,
        int seriesIndex,
        SizeBudget? budget)
    {
        if (refs.Count % 2 != 0)
        {
            throw new RemoteWriteFormatException(
                RemoteWriteFormatError.InvalidReference,
                string.Create(CultureInfo.InvariantCulture, $"timeseries[{seriesIndex}] has {refs.Count} label references; name/value pairs need an even count"),
                field);
        }

        var labels = new List<V1.Label>(refs.Count / 2);
        for (var i = 0; i < refs.Count; i += 2)
        {
            budget?.AddLabel(refs[i], refs[i + 1]);
            labels.Add(new V1.Label
            {
                Name = Resolve(refs[i], symbols, field, seriesIndex),
                Value = Resolve(refs[i + 1], symbols, field, seriesIndex),
            });
        }

        return labels;
    }

    private static string Resolve(uint reference, RepeatedField<string> symbols, string field, int seriesIndex) =>
        reference < (uint)symbols.Count
            ? symbols[(int)reference]
            : throw new RemoteWriteFormatException(
                RemoteWriteFormatError.InvalidReference,
                string.Create(CultureInfo.InvariantCulture, $"timeseries[{seriesIndex}] refers to symbol {reference}, outside the symbols table ({symbols.Count} entries)"),
                field);

    private static void AddMetadata(
        Dictionary<string, V1.MetricMetadata> families,
        List<V1.Label> labels,
        V2.Metadata? metadata,
        RepeatedField<string> symbols,
        int seriesIndex,
        SizeBudget budget)
    {
        if (metadata is null)
        {
            return;
        }

        var help = Resolve(metadata.HelpRef, symbols, "io.prometheus.write.v2.Metadata.help_ref", seriesIndex);
        var unit = Resolve(metadata.UnitRef, symbols, "io.prometheus.write.v2.Metadata.unit_ref", seriesIndex);
        if (metadata.Type == V2.Metadata.Types.MetricType.Unspecified && help.Length == 0 && unit.Length == 0)
        {
            return;
        }

        var name = labels.Find(static label => label.Name == "__name__")?.Value;
        if (string.IsNullOrEmpty(name))
        {
            return;
        }

        var family = FamilyName(name, metadata.Type);
        if (families.ContainsKey(family))
        {
            return;
        }

        budget.Add(MetadataOverhead + (3L * (family.Length + help.Length + unit.Length)));
        families.Add(family, new V1.MetricMetadata
        {
            // The two enums share their numbering (both follow the OpenMetrics types).
            Type = (V1.MetricMetadata.Types.MetricType)(int)metadata.Type,
            MetricFamilyName = family,
            Help = help,
            Unit = unit,
        });
    }

    private static string FamilyName(string metricName, V2.Metadata.Types.MetricType type)
    {
        ReadOnlySpan<string> suffixes = type switch
        {
            V2.Metadata.Types.MetricType.Histogram => ["_bucket", "_sum", "_count"],
            V2.Metadata.Types.MetricType.Gaugehistogram => ["_bucket", "_gsum", "_gcount"],
            V2.Metadata.Types.MetricType.Summary => ["_sum", "_count"],
            _ => [],
        };

        foreach (var suffix in suffixes)
        {
            if (metricName.Length > suffix.Length && metricName.EndsWith(suffix, StringComparison.Ordinal))
            {
                return metricName[..^suffix.Length];
            }
        }

        return metricName;
    }

    // Upper bounds of the 1.0 encoding of each part (tags, length prefixes, ten-byte varints).
    private const int SeriesOverhead = 6;
    private const int SampleBytes = 2 + 1 + 8 + 1 + 10;
    private const int EmbeddedOverhead = 6;
    private const int ExemplarBytes = 2 + 1 + 8 + 1 + 10;
    private const int LabelOverhead = 6 + 6 + 6;
    private const int MetadataOverhead = 6 + 2 + 6 + 6 + 6;

    private static V1.Histogram ConvertHistogram(V2.Histogram source)
    {
        var target = new V1.Histogram
        {
            Sum = source.Sum,
            Schema = source.Schema,
            ZeroThreshold = source.ZeroThreshold,
            ResetHint = (V1.Histogram.Types.ResetHint)(int)source.ResetHint,
            Timestamp = source.Timestamp,
        };

        switch (source.CountCase)
        {
            case V2.Histogram.CountOneofCase.CountInt:
                target.CountInt = source.CountInt;
                break;
            case V2.Histogram.CountOneofCase.CountFloat:
                target.CountFloat = source.CountFloat;
                break;
        }

        switch (source.ZeroCountCase)
        {
            case V2.Histogram.ZeroCountOneofCase.ZeroCountInt:
                target.ZeroCountInt = source.ZeroCountInt;
                break;
            case V2.Histogram.ZeroCountOneofCase.ZeroCountFloat:
                target.ZeroCountFloat = source.ZeroCountFloat;
                break;
        }

        foreach (var span in source.NegativeSpans)
        {
            target.NegativeSpans.Add(new V1.BucketSpan { Offset = span.Offset, Length = span.Length });
        }

        foreach (var span in source.PositiveSpans)
        {
            target.PositiveSpans.Add(new V1.BucketSpan { Offset = span.Offset, Length = span.Length });
        }

        target.NegativeDeltas.AddRange(source.NegativeDeltas);
        target.NegativeCounts.AddRange(source.NegativeCounts);
        target.PositiveDeltas.AddRange(source.PositiveDeltas);
        target.PositiveCounts.AddRange(source.PositiveCounts);
        target.CustomValues.AddRange(source.CustomValues);
        return target;
    }

    /// <summary>
    /// Tracks an upper bound of the 1.0 encoding as it is built, so a request whose references
    /// multiply its strings fails before the copies are allocated.
    /// </summary>
    private sealed class SizeBudget(RepeatedField<string> symbols, int limit)
    {
        // UTF-8 sizes of the symbols, measured once each on first use.
        private readonly int[] _symbolBytes = new int[symbols.Count];
        private long _used;

        public void AddLabel(uint name, uint value)
        {
            // Out-of-range references are reported by the caller's resolution, with their field.
            if (name < (uint)symbols.Count && value < (uint)symbols.Count)
            {
                Add(LabelOverhead + (long)SymbolBytes((int)name) + SymbolBytes((int)value));
            }
        }

        public void Add(long bytes)
        {
            _used += bytes;
            if (_used > limit)
            {
                throw new RemoteWriteFormatException(
                    RemoteWriteFormatError.TranslationTooLarge,
                    string.Create(CultureInfo.InvariantCulture, $"the remote-write 1.0 translation would be more than the {limit}-byte limit"));
            }
        }

        private int SymbolBytes(int index)
        {
            // Stored plus one, so that zero means "not measured yet".
            ref var bytes = ref _symbolBytes[index];
            if (bytes == 0)
            {
                bytes = Encoding.UTF8.GetByteCount(symbols[index]) + 1;
            }

            return bytes - 1;
        }
    }
}
