using System.Net;

namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// A request body the test writes itself, piece by piece, with or without a declared length (no
/// length means HTTP/1.1 chunked framing), so it can pause mid-body and wait for an event.
/// </summary>
internal sealed class PushContent : HttpContent
{
    private readonly Func<Stream, CancellationToken, Task> _write;
    private readonly long? _length;

    public PushContent(Func<Stream, CancellationToken, Task> write, long? length = null)
    {
        _write = write;
        _length = length;
        if (length is { } declared)
        {
            Headers.ContentLength = declared;
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        _write(stream, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        _write(stream, cancellationToken);

    protected override bool TryComputeLength(out long length)
    {
        length = _length ?? 0;
        return _length is not null;
    }
}

/// <summary>The real Prometheus 2.42 remote-write bodies in testdata/.</summary>
internal static class Fixtures
{
    public static IReadOnlyList<(string Name, byte[] Body)> RemoteWrite()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "testdata", "remote-write", "prometheus-2.42");
        var files = Directory.GetFiles(folder, "*.snappy").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 5, $"expected the remote-write fixtures in {folder}");
        return files.Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
    }
}
