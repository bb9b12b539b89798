using System.Collections.Concurrent;
using System.Text;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastProxy.IntegrationTests.Telemetry;

/// <summary>One decoded protobuf field: number, and either a varint or the bytes of a length-delimited value.</summary>
internal readonly record struct ProtoField(int Number, ulong Varint, byte[]? Bytes)
{
    public string Text => Encoding.UTF8.GetString(Bytes ?? []);

    public IEnumerable<ProtoField> Fields => Proto.Read(Bytes ?? []);

    public IEnumerable<ProtoField> Field(int number) => Fields.Where(f => f.Number == number);
}

/// <summary>Just enough protobuf wire decoding to read OTLP requests without their generated classes.</summary>
internal static class Proto
{
    public static IEnumerable<ProtoField> Read(byte[] data)
    {
        var fields = new List<ProtoField>();
        var position = 0;
        while (position < data.Length)
        {
            var key = ReadVarint(data, ref position);
            var number = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0:
                    fields.Add(new ProtoField(number, ReadVarint(data, ref position), null));
                    break;
                case 1:
                    fields.Add(new ProtoField(number, BitConverter.ToUInt64(data, position), null));
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(data, ref position);
                    fields.Add(new ProtoField(number, 0, data[position..(position + length)]));
                    position += length;
                    break;
                case 5:
                    fields.Add(new ProtoField(number, BitConverter.ToUInt32(data, position), null));
                    position += 4;
                    break;
                default:
                    throw new FormatException($"wire type {key & 7}");
            }
        }

        return fields;
    }

    private static ulong ReadVarint(byte[] data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}

/// <summary>A decoded OTLP span.</summary>
internal sealed record OtlpSpan(string TraceId, string SpanId, string ParentSpanId, string Name, int Kind);

/// <summary>
/// An OTLP/gRPC collector in the test process: Kestrel h2c answering the trace and metrics Export
/// methods with an empty success message, keeping each request's protobuf payload.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<(string Path, byte[] Message)> _exports = new();
    private LoopbackHost _host = null!;

    public string Endpoint => _host.BaseUrl;

    public IReadOnlyList<(string Path, byte[] Message)> Exports => [.. _exports];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver();
        receiver._host = await LoopbackHost.StartAsync(receiver.HandleAsync, HttpProtocols.Http2);
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var frame = body.ToArray();
        // gRPC framing: 1 byte compressed flag, 4 bytes big-endian length, the message.
        _exports.Enqueue((context.Request.Path.Value ?? "", frame.Length >= 5 ? frame[5..] : []));
        context.Response.ContentType = "application/grpc";
        context.Response.AppendTrailer("grpc-status", "0");
        await context.Response.Body.WriteAsync(new byte[5], context.RequestAborted);
    }

    public IReadOnlyList<OtlpSpan> Spans() =>
        [.. _exports.Where(e => e.Path.EndsWith("TraceService/Export", StringComparison.Ordinal))
            .SelectMany(e => Proto.Read(e.Message).Where(f => f.Number == 1)) // resource_spans
            .SelectMany(rs => rs.Field(2)) // scope_spans
            .SelectMany(ss => ss.Field(2)) // spans
            .Select(span => new OtlpSpan(
                Hex(span.Field(1).Single().Bytes), Hex(span.Field(2).Single().Bytes),
                Hex(span.Field(4).SingleOrDefault().Bytes), span.Field(5).Single().Text, (int)span.Field(6).SingleOrDefault().Varint))];

    /// <summary>Metric names in every metrics export, and the service.name attributes of their resources.</summary>
    public (IReadOnlySet<string> Names, IReadOnlySet<string> Services) Metrics()
    {
        var resourceMetrics = _exports.Where(e => e.Path.EndsWith("MetricsService/Export", StringComparison.Ordinal))
            .SelectMany(e => Proto.Read(e.Message).Where(f => f.Number == 1)).ToList();
        var names = resourceMetrics.SelectMany(rm => rm.Field(2)).SelectMany(sm => sm.Field(2)).Select(m => m.Field(1).Single().Text);
        var services = resourceMetrics.SelectMany(rm => rm.Field(1)).SelectMany(r => r.Field(1))
            .Where(kv => kv.Field(1).Single().Text == "service.name").Select(kv => kv.Field(2).Single().Field(1).Single().Text);
        return (names.ToHashSet(StringComparer.Ordinal), services.ToHashSet(StringComparer.Ordinal));
    }

    private static string Hex(byte[]? bytes) => bytes is null ? "" : Convert.ToHexStringLower(bytes);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
