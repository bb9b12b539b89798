using System.Text;
using System.Text.RegularExpressions;

namespace FastProxy.Telemetry;

/// <summary>
/// The first <see cref="Limit"/> bytes of an upstream error response, copied from the blocks the
/// forwarder relays anyway: the body is never buffered or held back for the log (Prometheus' own
/// client caps error bodies at 1 KiB the same way).
/// </summary>
/// <remarks>
/// The text is for a log line, so it is made safe for one: the held token and anything shaped like a
/// bearer token or a JWT are replaced (a target that echoes the request must not leak it), control
/// characters become spaces, and invalid UTF-8 becomes U+FFFD.
/// </remarks>
internal sealed partial class ErrorExcerpt
{
    public const int Limit = 1024;

    private readonly byte[] _bytes = new byte[Limit];
    private readonly string _token;
    private int _length;
    private bool _truncated;

    public ErrorExcerpt(string authorizationHeaderValue)
    {
        // "Bearer <token>": the token alone is what a target might echo.
        _token = authorizationHeaderValue.StartsWith("Bearer ", StringComparison.Ordinal) ? authorizationHeaderValue[7..] : authorizationHeaderValue;
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        var take = Math.Min(data.Length, Limit - _length);
        data[..take].CopyTo(_bytes.AsSpan(_length));
        _length += take;
        _truncated |= take < data.Length;
    }

    public string Text()
    {
        var text = Encoding.UTF8.GetString(_bytes, 0, _length);
        if (_token.Length > 0)
        {
            text = text.Replace(_token, "[token redacted]", StringComparison.Ordinal);
        }

        text = Bearer().Replace(text, "Bearer [redacted]");
        text = Jwt().Replace(text, "[jwt redacted]");
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = ' ';
            }
        }

        return new string(chars) + (_truncated ? " …(truncated)" : "");
    }

    [GeneratedRegex(@"Bearer\s+[A-Za-z0-9\-._~+/]+=*", RegexOptions.IgnoreCase)]
    private static partial Regex Bearer();

    [GeneratedRegex(@"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}(\.[A-Za-z0-9_\-]*)?")]
    private static partial Regex Jwt();
}
