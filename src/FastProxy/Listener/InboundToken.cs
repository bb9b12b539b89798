using System.Security.Cryptography;
using System.Text;
using FastProxy.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace FastProxy.Listener;

/// <summary>
/// The bearer token clients must present (INBOUND_TOKEN_FILE). The file is checked for a new
/// last-write time or size at most once per second, and re-read only then, so a rotated Secret is
/// followed without a syscall per request. Only the SHA-256 of the token is kept; a presented token
/// is hashed the same way and the two hashes compared in constant time, so neither the content nor
/// the length of the expected token leaks through timing. The token is never logged.
/// </summary>
internal sealed class InboundToken
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _reload = new();
    private volatile State _state;
    private long _nextCheck;

    private sealed record State(byte[] Hash, DateTime LastWrite, long Length);

    private InboundToken(string path, TimeProvider time, ILogger logger, State state)
    {
        _path = path;
        _time = time;
        _logger = logger;
        _state = state;
        _nextCheck = time.GetTimestamp() + (long)(CheckInterval.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Reads the file once; start-up has already validated it (<see cref="Validate"/>).</summary>
    public static InboundToken Load(string path, TimeProvider time, ILogger logger)
    {
        var state = ReadState(path) ?? throw new InvalidOperationException($"INBOUND_TOKEN_FILE {path} is missing or empty");
        return new InboundToken(path, time, logger, state);
    }

    /// <summary>Null when the file holds a token; otherwise what is wrong, for a configuration error.</summary>
    public static string? Validate(string path)
    {
        try
        {
            return ReadToken(path) is null ? $"file {path} is empty; write the token clients send into it" : null;
        }
        // Own words: the native build carries no framework message texts.
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return $"file {path} does not exist; mount the token's Secret there or correct the path";
        }
        catch (UnauthorizedAccessException)
        {
            return $"file {path} cannot be read by this user; check the file's mode and the pod's fsGroup";
        }
        catch (IOException)
        {
            return $"file {path} cannot be read (an I/O error, or a directory rather than a file); check that the path names the token file";
        }
    }

    /// <summary>Whether <paramref name="authorization"/> is "Bearer &lt;the token&gt;".</summary>
    public bool IsAuthorized(StringValues authorization)
    {
        RefreshIfDue();
        if (authorization.Count != 1 || authorization[0] is not { } value ||
            value.Length <= 7 || !value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = value.AsSpan(7).Trim(' ');
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var maxBytes = Encoding.UTF8.GetMaxByteCount(presented.Length);
        // Kestrel's header limit bounds a presented token, so the heap copy is for odd clients only.
        Span<byte> utf8 = maxBytes <= 1024 ? stackalloc byte[1024] : new byte[maxBytes];
        var length = Encoding.UTF8.GetBytes(presented, utf8);
        SHA256.HashData(utf8[..length], hash);
        return CryptographicOperations.FixedTimeEquals(hash, _state.Hash);
    }

    private void RefreshIfDue()
    {
        var now = _time.GetTimestamp();
        var next = Interlocked.Read(ref _nextCheck);
        if (now < next || Interlocked.CompareExchange(ref _nextCheck, now + (long)(CheckInterval.TotalSeconds * _time.TimestampFrequency), next) != next)
        {
            return;
        }

        // One request per second pays for a stat; the rest compare against the held hash.
        lock (_reload)
        {
            try
            {
                var info = new FileInfo(_path);
                if (!info.Exists)
                {
                    Log.InboundTokenUnreadable(_logger, _path, "the file is missing");
                    return;
                }

                var current = _state;
                if (info.LastWriteTimeUtc == current.LastWrite && info.Length == current.Length)
                {
                    return;
                }

                if (ReadState(_path) is { } state)
                {
                    _state = state;
                    Log.InboundTokenReloaded(_logger, _path);
                }
                else
                {
                    Log.InboundTokenUnreadable(_logger, _path, "the file is empty");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A Secret being swapped can vanish for a moment: keep the token held until then.
                Log.InboundTokenUnreadable(_logger, _path, ex.Message);
            }
        }
    }

    private static State? ReadState(string path)
    {
        var info = new FileInfo(path);
        var token = ReadToken(path);
        return token is null ? null : new State(SHA256.HashData(Encoding.UTF8.GetBytes(token)), info.LastWriteTimeUtc, info.Length);
    }

    /// <summary>The file's content without surrounding whitespace (a trailing newline is usual); null when empty.</summary>
    private static string? ReadToken(string path)
    {
        var text = File.ReadAllText(path).Trim();
        return text.Length == 0 ? null : text;
    }
}
