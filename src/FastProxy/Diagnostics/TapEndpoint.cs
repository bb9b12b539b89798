using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace FastProxy.Diagnostics;

/// <summary>
/// <c>GET /fastproxy/payloads</c>: the tap's last summaries as JSON, or as readable text with
/// <c>?format=text</c>. Written with Utf8JsonWriter (no reflection; the binary is native AOT).
/// </summary>
internal static class TapEndpoint
{
    public const string Path = "/fastproxy/payloads";

    public static async Task WriteAsync(HttpContext context, PayloadTap tap)
    {
        var records = tap.Recent;
        context.Response.StatusCode = StatusCodes.Status200OK;
        if (context.Request.Query["format"] == "text")
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(RenderText(tap, records), context.RequestAborted);
            return;
        }

        context.Response.ContentType = "application/json";
        using (var json = new Utf8JsonWriter(context.Response.BodyWriter, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteBoolean("enabled", tap.Enabled);
            json.WriteNumber("sampleEvery", tap.SampleEvery);
            json.WriteStartArray("payloads");
            foreach (var record in records.Reverse())
            {
                WriteRecord(json, record);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static void WriteRecord(Utf8JsonWriter json, TapRecord record)
    {
        json.WriteStartObject();
        json.WriteString("at", record.At);
        json.WriteString("route", record.Route);
        json.WriteString("contentType", record.ContentType);
        if (record.Summary is { } s)
        {
            json.WriteString("version", s.Version.ToString());
            json.WriteNumber("compressedBytes", s.CompressedBytes);
            json.WriteNumber("uncompressedBytes", s.UncompressedBytes);
            json.WriteNumber("series", s.Series);
            json.WriteNumber("samples", s.Samples);
            json.WriteNumber("exemplars", s.Exemplars);
            json.WriteNumber("histograms", s.Histograms);
            json.WriteNumber("metadata", s.MetadataEntries);
            json.WriteNumber("metricNames", s.DistinctMetricNames);
            json.WriteNumber("minLabelsPerSeries", s.MinLabelsPerSeries);
            json.WriteNumber("maxLabelsPerSeries", s.MaxLabelsPerSeries);
            json.WriteNumber("meanLabelsPerSeries", Math.Round(s.MeanLabelsPerSeries, 2));
            if (s.MinTimestampMs is { } min && s.MaxTimestampMs is { } max)
            {
                json.WriteNumber("minTimestampMs", min);
                json.WriteNumber("maxTimestampMs", max);
            }

            json.WriteStartArray("topMetricNames");
            foreach (var name in s.TopMetricNames)
            {
                json.WriteStartObject();
                json.WriteString("name", name.Name);
                json.WriteNumber("series", name.Series);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }
        else
        {
            json.WriteString("error", record.Error);
        }

        json.WriteEndObject();
    }

    internal static string RenderText(PayloadTap tap, IReadOnlyList<TapRecord> records)
    {
        var text = new StringBuilder();
        if (!tap.Enabled)
        {
            text.AppendLine("The diagnostics tap is off; set DIAGNOSTICS_SAMPLE_EVERY=N to decode 1 request in N.");
            return text.ToString();
        }

        text.AppendLine($"Last {records.Count} sampled requests (1 in {tap.SampleEvery}), newest first:");
        foreach (var record in records.Reverse())
        {
            text.Append($"{record.At:HH:mm:ss.fff}  {record.Route,-10} ");
            if (record.Summary is { } s)
            {
                var span = s.MinTimestampMs is { } min && s.MaxTimestampMs is { } max ? $", samples span {max - min} ms" : "";
                text.AppendLine($"remote-write {(s.Version == Protocol.RemoteWriteVersion.V2 ? "2.0" : "1.0")}: {s.Series} series, {s.Samples} samples, " +
                                $"{s.Histograms} histograms, {s.Exemplars} exemplars, {s.MetadataEntries} metadata, {s.DistinctMetricNames} metric names, " +
                                $"{s.CompressedBytes} -> {s.UncompressedBytes} bytes{span}");
                if (s.TopMetricNames.Count > 0)
                {
                    text.AppendLine("              top: " + string.Join(", ", s.TopMetricNames.Take(5).Select(n => $"{n.Name} ({n.Series})")));
                }
            }
            else
            {
                text.AppendLine($"not remote write ({record.ContentType}): {record.Error}");
            }
        }

        return text.ToString();
    }
}
