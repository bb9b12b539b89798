namespace FastProxy.EndToEndTests;

/// <summary>What one remote-write 1.0 request carried.</summary>
internal readonly record struct RemoteWriteCounts(int Series, int Samples, int Metadata);

/// <summary>
/// Counts series, samples and metadata in a remote-write 1.0 body (snappy block + protobuf
/// <c>prometheus.WriteRequest</c>) by walking the wire format: WriteRequest.timeseries = 1,
/// WriteRequest.metadata = 3, TimeSeries.samples = 2; and lists each sample's series and timestamp
/// for the accounting test. Independent of the product's own protocol library.
/// </summary>
internal static class RemoteWriteCounter
{
    public static RemoteWriteCounts Count(ReadOnlySpan<byte> snappyBody)
    {
        var message = Snappier.Snappy.DecompressToArray(snappyBody);
        var series = 0;
        var samples = 0;
        var metadata = 0;
        var reader = new Reader(message);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field, wireType))
            {
                case (1, 2):
                    series++;
                    samples += CountSamples(reader.ReadBytes());
                    break;
                case (3, 2):
                    metadata++;
                    reader.ReadBytes();
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return new RemoteWriteCounts(series, samples, metadata);
    }

    /// <summary>
    /// Every sample in a remote-write 1.0 body as (series key, timestamp in ms), where the series key
    /// is <see cref="SeriesKey"/> of its labels (TimeSeries.labels = 1, Label.name = 1, Label.value = 2,
    /// Sample.timestamp = 2).
    /// </summary>
    public static List<(string Series, long TimestampMs)> Samples(ReadOnlySpan<byte> snappyBody)
    {
        var message = Snappier.Snappy.DecompressToArray(snappyBody);
        var samples = new List<(string, long)>();
        var reader = new Reader(message);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == 1 && wireType == 2)
            {
                ReadTimeSeries(reader.ReadBytes(), samples);
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return samples;
    }

    /// <summary>One string per label set, independent of label order: name="value" pairs sorted by name.</summary>
    public static string SeriesKey(IEnumerable<KeyValuePair<string, string>> labels) =>
        string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\""));

    private static void ReadTimeSeries(ReadOnlySpan<byte> timeSeries, List<(string, long)> samples)
    {
        var labels = new List<KeyValuePair<string, string>>();
        var timestamps = new List<long>();
        var reader = new Reader(timeSeries);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field, wireType))
            {
                case (1, 2):
                    labels.Add(ReadLabel(reader.ReadBytes()));
                    break;
                case (2, 2):
                    timestamps.Add(ReadTimestamp(reader.ReadBytes()));
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        var key = SeriesKey(labels);
        foreach (var timestamp in timestamps)
        {
            samples.Add((key, timestamp));
        }
    }

    private static KeyValuePair<string, string> ReadLabel(ReadOnlySpan<byte> label)
    {
        var name = "";
        var value = "";
        var reader = new Reader(label);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field, wireType))
            {
                case (1, 2):
                    name = System.Text.Encoding.UTF8.GetString(reader.ReadBytes());
                    break;
                case (2, 2):
                    value = System.Text.Encoding.UTF8.GetString(reader.ReadBytes());
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return new(name, value);
    }

    private static long ReadTimestamp(ReadOnlySpan<byte> sample)
    {
        long timestamp = 0;
        var reader = new Reader(sample);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == 2 && wireType == 0)
            {
                // int64, not zigzag: a plain varint read as two's complement.
                timestamp = unchecked((long)reader.ReadVarintValue());
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return timestamp;
    }

    private static int CountSamples(ReadOnlySpan<byte> timeSeries)
    {
        var samples = 0;
        var reader = new Reader(timeSeries);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == 2 && wireType == 2)
            {
                samples++;
            }

            reader.Skip(wireType);
        }

        return samples;
    }

    private ref struct Reader
    {
        private ReadOnlySpan<byte> _rest;

        public Reader(ReadOnlySpan<byte> data) => _rest = data;

        public bool TryReadTag(out int field, out int wireType)
        {
            if (_rest.IsEmpty)
            {
                field = 0;
                wireType = 0;
                return false;
            }

            var tag = ReadVarint();
            field = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            return true;
        }

        public ReadOnlySpan<byte> ReadBytes()
        {
            var length = checked((int)ReadVarint());
            if (length > _rest.Length)
            {
                throw new FormatException("length-delimited field runs past the end of the message");
            }

            var bytes = _rest[..length];
            _rest = _rest[length..];
            return bytes;
        }

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case 0:
                    ReadVarint();
                    break;
                case 1:
                    _rest = _rest[8..];
                    break;
                case 2:
                    ReadBytes();
                    break;
                case 5:
                    _rest = _rest[4..];
                    break;
                default:
                    throw new FormatException($"unsupported wire type {wireType}");
            }
        }

        public ulong ReadVarintValue() => ReadVarint();

        private ulong ReadVarint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_rest.IsEmpty)
                {
                    throw new FormatException("truncated varint");
                }

                var b = _rest[0];
                _rest = _rest[1..];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new FormatException("varint longer than 10 bytes");
        }
    }
}
