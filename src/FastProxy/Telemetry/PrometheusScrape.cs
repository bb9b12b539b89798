using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace FastProxy.Telemetry;

/// <summary>
/// The /metrics endpoint's data: a <see cref="MeterListener"/> on one server's meter that keeps
/// cumulative series, and the Prometheus text format (0.0.4) written from them on a scrape.
/// </summary>
/// <remarks>
/// Written here rather than taken from OpenTelemetry.Exporter.Prometheus.AspNetCore: that package is
/// a beta, answers through ASP.NET Core middleware (FastProxy has one request delegate and no
/// routing), and listens to every meter of the name in the process, while this aggregator belongs
/// to one server (tests run several at once). A measurement costs one dictionary lookup keyed by
/// the label values (all strings from <see cref="ProxyMetrics"/>' tables), skipped when the
/// measurement carries the label objects of the one before it, and an interlocked add; no
/// allocation after a series' first measurement.
/// </remarks>
internal sealed class PrometheusScrape : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterListener _listener = new();
    private readonly List<InstrumentSeries> _instruments = [];
    private readonly Lock _scrapeLock = new();

    public PrometheusScrape(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, meter))
            {
                return;
            }

            var series = new InstrumentSeries(instrument);
            lock (_instruments)
            {
                _instruments.Add(series);
            }

            listener.EnableMeasurementEvents(instrument, series);
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentSeries)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentSeries)state!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>Observes the observable instruments, then writes every series in the text format.</summary>
    public string Collect()
    {
        lock (_scrapeLock)
        {
            InstrumentSeries[] instruments;
            lock (_instruments)
            {
                instruments = [.. _instruments];
            }

            // Observable instruments report their current values: the last scrape's series go, so a
            // scope that lost its token stops showing an expiry rather than a stale one.
            foreach (var instrument in instruments)
            {
                if (instrument.Instrument.IsObservable)
                {
                    instrument.Clear();
                }
            }

            _listener.RecordObservableInstruments();
            var text = new StringBuilder(4096);
            foreach (var instrument in instruments)
            {
                instrument.Write(text);
            }

            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>Label values of one series; up to three inline, so looking one up does not allocate.</summary>
    private readonly struct SeriesKey : IEquatable<SeriesKey>
    {
        private readonly string? _a;
        private readonly string? _b;
        private readonly string? _c;
        private readonly string[]? _more;

        public SeriesKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            _a = tags.Length > 0 ? Text(tags[0].Value) : null;
            _b = tags.Length > 1 ? Text(tags[1].Value) : null;
            _c = tags.Length > 2 ? Text(tags[2].Value) : null;
            if (tags.Length > 3)
            {
                _more = new string[tags.Length - 3];
                for (var i = 3; i < tags.Length; i++)
                {
                    _more[i - 3] = Text(tags[i].Value);
                }
            }
        }

        private static string Text(object? value) => value as string ?? Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";

        public bool Equals(SeriesKey other) =>
            string.Equals(_a, other._a, StringComparison.Ordinal) && string.Equals(_b, other._b, StringComparison.Ordinal) &&
            string.Equals(_c, other._c, StringComparison.Ordinal) &&
            (_more is null ? other._more is null : other._more is not null && _more.AsSpan().SequenceEqual(other._more));

        public override bool Equals(object? obj) => obj is SeriesKey other && Equals(other);

        // Every measurement of every request looks its series up, and hashing the label strings in
        // full (randomised Marvin) cost ≈ 1,000 instructions per request (callgrind). Label values
        // are short table strings with few series per instrument, so length and three characters
        // tell them apart; a collision only costs the ordinal comparison in Equals.
        public override int GetHashCode() => HashCode.Combine(Sketch(_a), Sketch(_b), Sketch(_c), _more?.Length);

        private static int Sketch(string? value) => value is not { Length: > 0 } text
            ? 0
            : (text.Length << 24) ^ (text[0] << 16) ^ (text[text.Length / 2] << 8) ^ text[^1];
    }

    private sealed class Series
    {
        // The label value objects of the measurement that created the series, for HasSameLabels.
        private readonly object? _first;
        private readonly object? _second;
        private readonly object? _third;
        private readonly int _tagCount;

        public Series(ReadOnlySpan<KeyValuePair<string, object?>> tags, int buckets)
        {
            Labels = new KeyValuePair<string, string>[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                Labels[i] = new(tags[i].Key, tags[i].Value as string ?? Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "");
            }

            Buckets = buckets > 0 ? new long[buckets + 1] : null;
            _tagCount = tags.Length;
            _first = tags.Length > 0 ? tags[0].Value : null;
            _second = tags.Length > 1 ? tags[1].Value : null;
            _third = tags.Length > 2 ? tags[2].Value : null;
        }

        /// <summary>
        /// True when the measurement carries the very objects this series was created with. Never
        /// true for a measurement of other label text; false for equal text in other instances,
        /// which the dictionary then finds.
        /// </summary>
        public bool HasSameLabels(ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            tags.Length == _tagCount && _tagCount <= 3 &&
            (_tagCount < 1 || ReferenceEquals(tags[0].Value, _first)) &&
            (_tagCount < 2 || ReferenceEquals(tags[1].Value, _second)) &&
            (_tagCount < 3 || ReferenceEquals(tags[2].Value, _third));

        public KeyValuePair<string, string>[] Labels { get; }

        // Counters and gauges: the value. Histograms: the sum. Long instruments add into LongValue.
        public long LongValue;
        public double DoubleValue;
        public long Count;
        public long[]? Buckets;
    }

    private sealed class InstrumentSeries
    {
        private static readonly double[] DefaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

        private readonly ConcurrentDictionary<SeriesKey, Series> _series = new();
        private readonly double[] _bounds;
        private readonly bool _isHistogram;
        private Series? _last;
        private readonly bool _isLong;
        private readonly bool _lastValue;
        private readonly string _type;

        public InstrumentSeries(Instrument instrument)
        {
            Instrument = instrument;
            _isLong = instrument is Counter<long> or UpDownCounter<long> or ObservableCounter<long> or ObservableGauge<long>
                or ObservableUpDownCounter<long> or Gauge<long> or Histogram<long>;
            // Observable instruments report totals or current values; synchronous gauges the last value.
            _lastValue = instrument.IsObservable || instrument is Gauge<long> or Gauge<double>;
            _type = instrument switch
            {
                Counter<long> or Counter<double> or ObservableCounter<long> or ObservableCounter<double> => "counter",
                Histogram<double> or Histogram<long> => "histogram",
                _ => "gauge",
            };
            _isHistogram = _type == "histogram";
            // Boundaries from the instrument's advice; without advice, OpenTelemetry's defaults,
            // so the scrape and OTLP agree.
            _bounds = instrument switch
            {
                Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBuckets,
                Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? DefaultBuckets,
                _ => [],
            };
        }

        public Instrument Instrument { get; }

        public void Clear()
        {
            // Observable instruments only, on the scrape's thread, which also records them.
            _last = null;
            _series.Clear();
        }

        private Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // A route's measurements carry the same table strings every time, so most find the
            // series of the measurement before them without hashing (callgrind: the dictionary
            // lookup was ≈ 330 instructions, six a request; perf-baselines/CHANGES.md, round 13).
            if (_last is { } last && last.HasSameLabels(tags))
            {
                return last;
            }

            var key = new SeriesKey(tags);
            if (!_series.TryGetValue(key, out var series))
            {
                series = _series.GetOrAdd(key, new Series(tags, _bounds.Length));
            }

            _last = series;
            return series;
        }

        public void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (_isHistogram)
            {
                Record((double)value, tags);
                return;
            }

            var series = Find(tags);
            if (_lastValue)
            {
                Volatile.Write(ref series.LongValue, value);
            }
            else
            {
                Interlocked.Add(ref series.LongValue, value);
            }
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var series = Find(tags);
            if (_lastValue)
            {
                Volatile.Write(ref series.DoubleValue, value);
                return;
            }

            AddDouble(ref series.DoubleValue, value);
            if (series.Buckets is { } buckets)
            {
                var index = 0;
                while (index < _bounds.Length && value > _bounds[index])
                {
                    index++;
                }

                Interlocked.Increment(ref buckets[index]);
                Interlocked.Increment(ref series.Count);
            }
        }

        private static void AddDouble(ref double target, double value)
        {
            var current = Volatile.Read(ref target);
            while (true)
            {
                var seen = Interlocked.CompareExchange(ref target, current + value, current);
                if (seen.Equals(current))
                {
                    return;
                }

                current = seen;
            }
        }

        public void Write(StringBuilder text)
        {
            if (_series.IsEmpty)
            {
                return;
            }

            var name = Instrument.Name;
            text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(Instrument.Description ?? "")).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(_type).Append('\n');
            foreach (var series in _series.Values.OrderBy(s => string.Join(',', s.Labels.Select(l => l.Value)), StringComparer.Ordinal))
            {
                if (series.Buckets is { } buckets)
                {
                    long cumulative = 0;
                    for (var i = 0; i < buckets.Length; i++)
                    {
                        cumulative += Volatile.Read(ref buckets[i]);
                        var le = i < _bounds.Length ? Number(_bounds[i]) : "+Inf";
                        WriteSample(text, name + "_bucket", series.Labels, ("le", le), cumulative.ToString(CultureInfo.InvariantCulture));
                    }

                    WriteSample(text, name + "_sum", series.Labels, null, Number(Volatile.Read(ref series.DoubleValue)));
                    WriteSample(text, name + "_count", series.Labels, null, cumulative.ToString(CultureInfo.InvariantCulture));
                }
                else
                {
                    var value = _isLong ? Volatile.Read(ref series.LongValue).ToString(CultureInfo.InvariantCulture) : Number(Volatile.Read(ref series.DoubleValue));
                    WriteSample(text, name, series.Labels, null, value);
                }
            }
        }

        private static void WriteSample(StringBuilder text, string name, KeyValuePair<string, string>[] labels, (string Name, string Value)? extra, string value)
        {
            text.Append(name);
            if (labels.Length > 0 || extra is not null)
            {
                text.Append('{');
                var first = true;
                foreach (var (label, labelValue) in labels)
                {
                    text.Append(first ? "" : ",").Append(label).Append("=\"").Append(EscapeLabel(labelValue)).Append('"');
                    first = false;
                }

                if (extra is { } e)
                {
                    text.Append(first ? "" : ",").Append(e.Name).Append("=\"").Append(e.Value).Append('"');
                }

                text.Append('}');
            }

            text.Append(' ').Append(value).Append('\n');
        }

        private static string Number(double value) =>
            double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN"
            : value.ToString("R", CultureInfo.InvariantCulture);

        private static string EscapeLabel(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

        private static string EscapeHelp(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }
}
