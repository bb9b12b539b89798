using Azure;
using Azure.Identity;

namespace FastProxy.Identity;

/// <summary>
/// Turns a credential failure into one line an operator can act on. Azure.Identity's messages
/// are multi-line and carry the endpoint's response; the first line and the status are kept, and
/// anything that looks like a token is never part of them (credentials do not echo tokens in
/// errors, and the line is cut short regardless).
/// </summary>
internal static class TokenFailure
{
    private const int MaxLength = 300;

    public static string Describe(Exception exception)
    {
        var kind = exception switch
        {
            CredentialUnavailableException => "identity unavailable",
            AuthenticationFailedException => "authentication failed",
            RequestFailedException { Status: > 0 } failed => $"identity endpoint answered {failed.Status}",
            TimeoutException => "timed out",
            HttpRequestException => "identity endpoint unreachable",
            _ => "token fetch failed",
        };

        var detail = FirstUsefulLine(exception);
        var hint = Hint(detail);
        var line = detail.Length == 0 ? kind : $"{kind}: {detail}";
        if (hint is not null)
        {
            line += $" ({hint})";
        }

        return line.Length <= MaxLength ? line : line[..MaxLength] + "…";
    }

    private static string FirstUsefulLine(Exception exception)
    {
        // The innermost status line says most (e.g. "Identity not found"), so look for it first.
        for (var current = exception; current is not null; current = current.InnerException)
        {
            var message = current.Message;
            foreach (var marker in new[] { "\"error_description\":", "error_description" })
            {
                var at = message.IndexOf(marker, StringComparison.Ordinal);
                if (at >= 0)
                {
                    var rest = message.AsSpan(at + marker.Length).TrimStart(" :\"".AsSpan());
                    var end = rest.IndexOfAny('"', '\n', '\r');
                    return (end >= 0 ? rest[..end] : rest).ToString().Trim();
                }
            }
        }

        var first = exception.Message.AsSpan();
        var newline = first.IndexOfAny('\r', '\n');
        return (newline >= 0 ? first[..newline] : first).ToString().Trim();
    }

    private static string? Hint(string detail)
    {
        if (detail.Contains("Identity not found", StringComparison.OrdinalIgnoreCase))
        {
            return "check AAD_CLIENT_ID and that the identity is assigned to this VM or node pool";
        }

        return null;
    }
}
