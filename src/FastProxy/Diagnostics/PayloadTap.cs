using System.Buffers;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using FastProxy.Protocol;
using FastProxy.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FastProxy.Diagnostics;

/// <summary>What the tap learned from one sampled request.</summary>
internal sealed record TapRecord(DateTimeOffset At, string Route, string ContentType, PayloadSummary? Summary, string? Error);

/// <summary>
/// The sampling tap: 1 request in N gets its body copied into a pooled buffer while it streams
/// upstream, and a background loop decodes the copy. Forwarding never waits for it: when the
/// decoder falls behind, captures are dropped (and counted), not queued without bound. With the
/// tap off, <see cref="TryStart"/> is one field read and the hot path does nothing else.
/// </summary>
internal sealed class PayloadTap : BackgroundService
{
    private readonly int _sampleEvery;
    private readonly int _maxBodyBytes;
    private readonly int _keep;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<(TapCapture Capture, string Route, string ContentType, DateTimeOffset At)> _pending =
        Channel.CreateBounded<(TapCapture, string, string, DateTimeOffset)>(new BoundedChannelOptions(8)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        });

    // Guarded by _recentLock; the admin endpoint copies it out.
    private readonly Queue<TapRecord> _recent = new();
    private readonly Lock _recentLock = new();
    private long _requests;
    private long _samplesInWindowStart;
    private long _sampledSamples;

    private readonly Counter<long> _sampled;
    private readonly Counter<long> _dropped;
    private readonly Histogram<long> _seriesPerRequest;
    private readonly Histogram<long> _samplesPerRequest;
    private readonly Histogram<long> _compressedBytes;
    private readonly Histogram<long> _uncompressedBytes;

    public PayloadTap(int sampleEvery, int keep, int maxBodyBytes, TimeProvider time, ILogger logger, Meter meter)
    {
        _sampleEvery = sampleEvery;
        _keep = Math.Max(1, keep);
        _maxBodyBytes = maxBodyBytes;
        _time = time;
        _logger = logger;
        _sampled = meter.CreateCounter<long>("fastproxy_tap_sampled_requests_total", description: "Requests whose body the diagnostics tap decoded, by protocol version and outcome.");
        _dropped = meter.CreateCounter<long>("fastproxy_tap_dropped_requests_total", description: "Sampled requests not decoded because the decoder was busy or the body was over the tap's size limit.");
        // Prometheus sends up to max_samples_per_send (default 2000) per request; Azure Monitor
        // rejects bodies over 1 MB: the buckets bracket both.
        var countBuckets = new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 10, 100, 500, 1000, 2000, 5000, 10_000, 50_000] };
        var byteBuckets = new InstrumentAdvice<long> { HistogramBucketBoundaries = [1024, 16_384, 65_536, 262_144, 524_288, 1_048_576, 4_194_304, 16_777_216] };
        _seriesPerRequest = meter.CreateHistogram("fastproxy_tap_series_per_request", unit: null, description: "Series per sampled remote-write request.", tags: null, advice: countBuckets);
        _samplesPerRequest = meter.CreateHistogram("fastproxy_tap_samples_per_request", unit: null, description: "Samples per sampled remote-write request.", tags: null, advice: countBuckets);
        _compressedBytes = meter.CreateHistogram("fastproxy_tap_compressed_bytes", unit: "By", description: "Compressed body size of sampled requests.", tags: null, advice: byteBuckets);
        _uncompressedBytes = meter.CreateHistogram("fastproxy_tap_uncompressed_bytes", unit: "By", description: "Uncompressed body size of sampled requests.", tags: null, advice: byteBuckets);
        meter.CreateObservableGauge("fastproxy_tap_estimated_samples_per_second", EstimateSamplesPerSecond,
            description: "Samples per second through the proxy, estimated from sampled requests (samples per sampled request × request rate).");
        StartedAt = time.GetTimestamp();
    }

    private long StartedAt { get; }

    public bool Enabled => _sampleEvery > 0;

    public int SampleEvery => _sampleEvery;

    /// <summary>Returns a capture for this request when it is sampled, else null. Cheap when off.</summary>
    public TapCapture? TryStart(long? contentLength, string route, string? contentType)
    {
        if (_sampleEvery <= 0)
        {
            return null;
        }

        var count = Interlocked.Increment(ref _requests);
        if (count % _sampleEvery != 0)
        {
            return null;
        }

        if (contentLength > _maxBodyBytes)
        {
            _dropped.Add(1);
            return null;
        }

        return new TapCapture(_maxBodyBytes, this, route, contentType);
    }

    /// <summary>Hands a finished capture to the decoder; never blocks the request.</summary>
    internal void Complete(TapCapture capture)
    {
        if (capture.Overflowed || !_pending.Writer.TryWrite((capture, capture.Route, capture.ContentType ?? "", _time.GetUtcNow())))
        {
            _dropped.Add(1);
            capture.Dispose();
        }
    }

    public IReadOnlyList<TapRecord> Recent
    {
        get
        {
            lock (_recentLock)
            {
                return [.. _recent];
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

        try
        {
            await foreach (var (capture, route, contentType, at) in _pending.Reader.ReadAllAsync(stoppingToken))
            {
                using (capture)
                {
                    Record(Decode(capture, route, contentType, at));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    internal static TapRecord Decode(TapCapture capture, string route, string contentType, DateTimeOffset at)
    {
        var version = RemoteWriteNegotiation.ParseContentType(contentType);
        try
        {
            var summary = PayloadSummaryReader.Summarize(capture.Body, new PayloadSummaryOptions { Version = version });
            return new TapRecord(at, route, contentType, summary, null);
        }
        catch (RemoteWriteFormatException ex)
        {
            // A body that is not remote write (a PromQL POST, say) is noted, not an error.
            return new TapRecord(at, route, contentType, null, ex.Message);
        }
    }

    private void Record(TapRecord record)
    {
        if (record.Summary is { } summary)
        {
            var version = new KeyValuePair<string, object?>("version", summary.Version == RemoteWriteVersion.V2 ? "2.0" : "1.0");
            _sampled.Add(1, version, new KeyValuePair<string, object?>("outcome", "decoded"));
            _seriesPerRequest.Record(summary.Series, version);
            _samplesPerRequest.Record(summary.Samples, version);
            _compressedBytes.Record(summary.CompressedBytes, version);
            _uncompressedBytes.Record(summary.UncompressedBytes, version);
            Interlocked.Add(ref _sampledSamples, summary.Samples);
            Interlocked.Increment(ref _samplesInWindowStart);
        }
        else
        {
            _sampled.Add(1, new KeyValuePair<string, object?>("version", "unknown"), new KeyValuePair<string, object?>("outcome", "not_remote_write"));
            Log.TapNotRemoteWrite(_logger, record.Route, record.Error ?? "");
        }

        lock (_recentLock)
        {
            _recent.Enqueue(record);
            while (_recent.Count > _keep)
            {
                _recent.Dequeue();
            }
        }
    }

    private double EstimateSamplesPerSecond()
    {
        var decoded = Interlocked.Read(ref _samplesInWindowStart);
        var elapsed = _time.GetElapsedTime(StartedAt).TotalSeconds;
        if (decoded == 0 || elapsed <= 0)
        {
            return 0;
        }

        var samplesPerRequest = (double)Interlocked.Read(ref _sampledSamples) / decoded;
        var requestsPerSecond = Interlocked.Read(ref _requests) / elapsed;
        return samplesPerRequest * requestsPerSecond;
    }
}

/// <summary>
/// A copy of one request body, gathered while the body streams upstream. The buffer is rented
/// from the shared pool and grows by doubling up to the tap's limit; beyond it the capture is
/// marked overflowed and stops copying (forwarding continues untouched).
/// </summary>
internal sealed class TapCapture : IDisposable
{
    private readonly int _limit;
    private readonly PayloadTap? _owner;
    private byte[] _buffer;
    private int _length;

    public TapCapture(int limit, PayloadTap? owner = null, string route = "", string? contentType = null)
    {
        _limit = limit;
        _owner = owner;
        Route = route;
        ContentType = contentType;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit, 64 * 1024));
    }

    public string Route { get; }

    public string? ContentType { get; }

    /// <summary>The body is complete: hand it to the tap's decoder (which now owns it).</summary>
    public void Complete()
    {
        if (_owner is null)
        {
            Dispose();
            return;
        }

        _owner.Complete(this);
    }

    public bool Overflowed { get; private set; }

    public ReadOnlySpan<byte> Body => _buffer.AsSpan(0, _length);

    public void Append(in ReadOnlySequence<byte> data)
    {
        if (Overflowed)
        {
            return;
        }

        if (_length + data.Length > _limit)
        {
            Overflowed = true;
            return;
        }

        var needed = _length + (int)data.Length;
        if (needed > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(_limit, Math.Max(needed, _buffer.Length * 2)));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        data.CopyTo(_buffer.AsSpan(_length));
        _length = needed;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
