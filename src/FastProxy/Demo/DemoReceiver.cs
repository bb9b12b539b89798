using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace FastProxy.Demo;

/// <summary>
/// A remote-write receiver that accepts a request only with the expected bearer token, reads
/// the whole body and keeps what arrived, as Azure Monitor's ingestion endpoint would.
/// </summary>
internal sealed class DemoReceiver
{
    private readonly string _expectedAuthorization;
    private readonly Lock _gate = new();
    private readonly List<ReceivedRequest> _received = [];

    public DemoReceiver(string expectedToken) => _expectedAuthorization = "Bearer " + expectedToken;

    public int Rejected { get; private set; }

    public IReadOnlyList<ReceivedRequest> Received
    {
        get
        {
            lock (_gate)
            {
                return [.. _received];
            }
        }
    }

    public async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Headers.Authorization != _expectedAuthorization)
        {
            lock (_gate)
            {
                Rejected++;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        var body = new ArrayBufferWriter<byte>();
        while (true)
        {
            var read = await context.Request.BodyReader.ReadAsync(context.RequestAborted);
            foreach (var segment in read.Buffer)
            {
                body.Write(segment.Span);
            }

            context.Request.BodyReader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }

        lock (_gate)
        {
            _received.Add(new ReceivedRequest(
                context.Request.Path + context.Request.QueryString,
                context.Request.Headers.ContentEncoding.ToString(),
                context.Request.Headers["X-Prometheus-Remote-Write-Version"].ToString(),
                body.WrittenSpan.ToArray()));
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}

internal sealed record ReceivedRequest(string PathAndQuery, string ContentEncoding, string RemoteWriteVersion, byte[] Body);
