using System.Text;

namespace FastProxy.Protocol.Summary;

/// <summary>
/// Counts series per metric name, keyed by the name's UTF-8 bytes, without allocating a string
/// per series.
/// </summary>
/// <remarks>
/// Each thread keeps one counter between summaries. Names stay in its table after a summary (only
/// their counts are reset), so summarising a stream of similar bodies, as the proxy's sampling tap
/// does, allocates no strings once the names have been seen. A table that grows past
/// <see cref="MaxRetainedNames"/> is dropped instead of kept, so one unusual body cannot pin memory.
/// </remarks>
internal sealed class MetricNameCounter
{
    private const int MaxRetainedNames = 16_384;

    [ThreadStatic]
    private static MetricNameCounter? t_cached;

    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly List<string> _names = [];
    private int[] _counts = new int[256];
    private char[] _decodeBuffer = new char[256];
    private int _distinct;

    private MetricNameCounter()
    {
        _lookup = _slots.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The number of names counted at least once since <see cref="Rent"/>.</summary>
    public int Distinct => _distinct;

    /// <summary>Takes this thread's counter, or a new one if it is in use (re-entrancy) or was dropped.</summary>
    public static MetricNameCounter Rent()
    {
        var counter = t_cached ?? new MetricNameCounter();
        t_cached = null;
        return counter;
    }

    /// <summary>Resets the counts and keeps the counter for this thread's next summary.</summary>
    public void Return()
    {
        if (_names.Count > MaxRetainedNames)
        {
            return;
        }

        Array.Clear(_counts, 0, _names.Count);
        _distinct = 0;
        t_cached = this;
    }

    /// <summary>Counts one series named <paramref name="utf8Name"/>.</summary>
    public void Add(ReadOnlySpan<byte> utf8Name)
    {
        // UTF-8 never yields more UTF-16 code units than it has bytes.
        if (_decodeBuffer.Length < utf8Name.Length)
        {
            _decodeBuffer = new char[Math.Max(utf8Name.Length, _decodeBuffer.Length * 2)];
        }

        // Invalid UTF-8 becomes U+FFFD, as Google.Protobuf decodes it; a summary never rejects a name.
        var length = Encoding.UTF8.GetChars(utf8Name, _decodeBuffer);
        var name = _decodeBuffer.AsSpan(0, length);
        if (!_lookup.TryGetValue(name, out var slot))
        {
            slot = _names.Count;
            var text = new string(name);
            _slots.Add(text, slot);
            _names.Add(text);
            if (slot == _counts.Length)
            {
                Array.Resize(ref _counts, _counts.Length * 2);
            }
        }

        if (_counts[slot]++ == 0)
        {
            _distinct++;
        }
    }

    /// <summary>The <paramref name="count"/> names with the most series, most first, ties by ordinal name.</summary>
    public MetricNameCount[] Top(int count)
    {
        count = Math.Min(count, _distinct);
        if (count <= 0)
        {
            return [];
        }

        // A bounded insertion into a sorted array: count is small (ten by default) and this runs
        // once per summary, so a heap would only add code.
        var top = new MetricNameCount[count];
        var filled = 0;
        for (var slot = 0; slot < _names.Count; slot++)
        {
            var series = _counts[slot];
            if (series == 0)
            {
                continue;
            }

            var candidate = new MetricNameCount(_names[slot], series);
            if (filled == count && !Precedes(candidate, top[count - 1]))
            {
                continue;
            }

            var at = filled < count ? filled++ : count - 1;
            while (at > 0 && Precedes(candidate, top[at - 1]))
            {
                top[at] = top[at - 1];
                at--;
            }

            top[at] = candidate;
        }

        return top;
    }

    private static bool Precedes(MetricNameCount a, MetricNameCount b) =>
        a.Series != b.Series ? a.Series > b.Series : string.CompareOrdinal(a.Name, b.Name) < 0;
}
