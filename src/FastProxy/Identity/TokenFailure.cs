using System.Text.Json;
using System.Text.RegularExpressions;
using Azure;
using Azure.Identity;
using Microsoft.Identity.Client;

namespace FastProxy.Identity;

/// <summary>
/// Turns a credential failure into one line an operator can act on. Azure.Identity's messages
/// are multi-line and carry the endpoint's response; the first line and the status are kept, and
/// anything that looks like a token is never part of them (credentials do not echo tokens in
/// errors, and the line is cut short regardless). Entra's per-request trace, correlation and
/// timestamp values are removed, so that the same failure gives the same line on every retry
/// (the refresher logs a failure once until its line changes).
/// </summary>
internal static partial class TokenFailure
{
    private const int MaxLength = 300;

    public static string Describe(Exception exception)
    {
        // The identity's own files: FastProxy's message already says what to change.
        if (Find<CredentialMaterialException>(exception) is { } material)
        {
            return Cut(material.Message);
        }

        var kind = exception switch
        {
            CredentialUnavailableException => "identity unavailable",
            AuthenticationFailedException => "authentication failed",
            RequestFailedException { Status: > 0 } failed => $"identity endpoint answered {failed.Status}",
            TimeoutException => "timed out",
            HttpRequestException => "identity endpoint unreachable",
            _ => "token fetch failed",
        };

        // MSAL (inside Azure.Identity's credentials) knows what Entra answered.
        if (Find<MsalServiceException>(exception) is { StatusCode: > 0 } entra && exception is not RequestFailedException)
        {
            kind += $" (HTTP {entra.StatusCode})";
        }

        var detail = WithoutVolatileParts(FirstUsefulLine(exception));
        var hint = Hint(detail);
        var line = detail.Length == 0 ? kind : $"{kind}: {detail}";
        if (hint is not null)
        {
            line += $" ({hint})";
        }

        return Cut(line);
    }

    /// <summary>
    /// A short, stable name for the kind of failure, for a metric's label: a few values, unlike
    /// <see cref="Describe"/>'s text.
    /// </summary>
    public static string Classify(Exception exception)
    {
        if (Find<CredentialMaterialException>(exception) is not null)
        {
            return "credential_material";
        }

        var status = Find<RequestFailedException>(exception)?.Status ?? Find<MsalServiceException>(exception)?.StatusCode ?? 0;
        if (status > 0)
        {
            return status switch
            {
                429 => "throttled",
                >= 500 => "server_error",
                _ => "rejected",
            };
        }

        if (Find<TimeoutException>(exception) is not null || Find<TaskCanceledException>(exception) is not null)
        {
            return "timeout";
        }

        if (Find<HttpRequestException>(exception) is not null)
        {
            return "unreachable";
        }

        if (Find<System.Text.Json.JsonException>(exception) is not null || Find<FormatException>(exception) is not null)
        {
            return "malformed_response";
        }

        return exception switch
        {
            CredentialUnavailableException => "identity_unavailable",
            AuthenticationFailedException => "authentication_failed",
            _ => "other",
        };
    }

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
            {
                return found;
            }

            if (current is AggregateException { InnerExceptions.Count: > 0 } aggregate && aggregate.InnerExceptions[0] is T first)
            {
                return first;
            }
        }

        return null;
    }

    private static string Cut(string line) => line.Length <= MaxLength ? line : line[..MaxLength] + "…";

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

        // Entra's own words (AADSTS code and text) are in the response MSAL kept; its message
        // may only say "service unavailable" and name the URL.
        if (Find<MsalServiceException>(exception) is { } entra)
        {
            if (ErrorDescription(entra.ResponseBody) is { Length: > 0 } description)
            {
                return description;
            }

            var text = entra.Message;
            var original = text.IndexOf("Original exception: ", StringComparison.Ordinal);
            return FirstLine(original >= 0 ? text[(original + "Original exception: ".Length)..] : text);
        }

        // Azure.Identity's first line ends in "failed: " when the detail is in an inner exception.
        for (var current = exception; current is not null; current = current.InnerException)
        {
            var line = FirstLine(current.Message);
            if (line.Length > 0 && !line.EndsWith(':'))
            {
                return line;
            }
        }

        return FirstLine(exception.Message);
    }

    private static string FirstLine(string text)
    {
        var span = text.AsSpan();
        var newline = span.IndexOfAny('\r', '\n');
        return (newline >= 0 ? span[..newline] : span).ToString().Trim();
    }

    private static string? ErrorDescription(string? responseBody)
    {
        if (string.IsNullOrEmpty(responseBody) || responseBody[0] != '{')
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(responseBody);
            return document.RootElement.ValueKind == JsonValueKind.Object &&
                   document.RootElement.TryGetProperty("error_description", out var description) &&
                   description.ValueKind == JsonValueKind.String
                ? FirstLine(description.GetString()!)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Drops what differs between two answers to the same problem: trace and correlation ids, timestamps.</summary>
    private static string WithoutVolatileParts(string detail) =>
        VolatileParts().Replace(detail, "").Trim();

    [GeneratedRegex(@"\s*(Trace ID|Correlation ID|Timestamp):\s*[0-9A-Za-z:.\-]+( [0-9:.]+Z)?", RegexOptions.CultureInvariant)]
    private static partial Regex VolatileParts();

    // Entra's error codes that operators meet when setting an identity up, with what to check.
    private static readonly (string Marker, string Hint)[] Hints =
    [
        ("Identity not found", "check AAD_CLIENT_ID and that the identity is assigned to this VM or node pool"),
        ("AADSTS700016", "no application with AAD_CLIENT_ID in this tenant: check AAD_CLIENT_ID, AAD_TENANT_ID and CLOUD"),
        ("AADSTS90002", "tenant not found: check AAD_TENANT_ID and CLOUD"),
        ("AADSTS7000215", "the client secret is wrong or expired: check AAD_CLIENT_SECRET_FILE"),
        ("AADSTS7000222", "the client secret has expired: create a new one"),
        ("AADSTS700027", "the certificate is not registered on the application, or the assertion is malformed: upload the certificate's public part"),
        ("AADSTS70021", "no federated credential matches the service account token: check the federated credential's issuer, subject and audience"),
        ("AADSTS700024", "the federated token has expired: check that Kubernetes refreshes AZURE_FEDERATED_TOKEN_FILE"),
        ("az login", "run 'az login' (azurecli is for development only)"),
    ];

    private static string? Hint(string detail)
    {
        foreach (var (marker, hint) in Hints)
        {
            if (detail.Contains(marker, StringComparison.OrdinalIgnoreCase))
            {
                return hint;
            }
        }

        return null;
    }
}
