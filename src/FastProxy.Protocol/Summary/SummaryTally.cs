namespace FastProxy.Protocol.Summary;

/// <summary>The running counts of one summary, filled in as the message is read.</summary>
internal struct SummaryTally
{
    public int Series;
    public long Samples;
    public long Exemplars;
    public long Histograms;
    public int Metadata;

    private long _labels;
    private int _minLabels;
    private int _maxLabels;
    private long _minTimestamp;
    private long _maxTimestamp;
    private bool _hasTimestamp;

    public void AddSeries(int labels)
    {
        _minLabels = Series == 0 ? labels : Math.Min(_minLabels, labels);
        _maxLabels = Math.Max(_maxLabels, labels);
        _labels += labels;
        Series++;
    }

    public void AddTimestamp(long timestamp)
    {
        if (!_hasTimestamp)
        {
            _minTimestamp = _maxTimestamp = timestamp;
            _hasTimestamp = true;
            return;
        }

        _minTimestamp = Math.Min(_minTimestamp, timestamp);
        _maxTimestamp = Math.Max(_maxTimestamp, timestamp);
    }

    public readonly PayloadSummary ToSummary(
        RemoteWriteVersion version,
        PayloadCompression compression,
        long compressedBytes,
        long uncompressedBytes,
        MetricNameCounter names,
        int topMetricNames) => new()
        {
            Version = version,
            Compression = compression,
            CompressedBytes = compressedBytes,
            UncompressedBytes = uncompressedBytes,
            Series = Series,
            Samples = Samples,
            Exemplars = Exemplars,
            Histograms = Histograms,
            MetadataEntries = Metadata,
            DistinctMetricNames = names.Distinct,
            TopMetricNames = names.Top(topMetricNames),
            MinLabelsPerSeries = _minLabels,
            MaxLabelsPerSeries = _maxLabels,
            MeanLabelsPerSeries = Series == 0 ? 0 : (double)_labels / Series,
            MinTimestampMs = _hasTimestamp ? _minTimestamp : null,
            MaxTimestampMs = _hasTimestamp ? _maxTimestamp : null,
        };
}
