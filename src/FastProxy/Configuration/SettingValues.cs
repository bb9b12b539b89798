using System.Text.Json;

namespace FastProxy.Configuration;

/// <summary>The value forms every setting of one kind accepts, in one place.</summary>
internal static class SettingValues
{
    /// <summary>true/1/yes/on and false/0/no/off, case-insensitive; anything else is not a boolean.</summary>
    public static bool TryParseBool(string text, out bool value)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes" or "on":
                value = true;
                return true;
            case "false" or "0" or "no" or "off":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    /// <summary>
    /// Where and why a JSON setting or file failed to parse, in words: "line 1, position 2: expected
    /// start of property not found". The shipped build strips the framework's message texts
    /// (UseSystemResourceKeys), leaving a resource key such as "ExpectedStartOfPropertyNotFound, ,"
    /// that is spelled out here; the parser's position is given instead of the text, which may hold secrets.
    /// </summary>
    public static string DescribeJsonError(JsonException exception)
    {
        var message = exception.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0)
        {
            message = message[..cut];
        }

        var key = message.Split(',')[0].Trim();
        if (key.Length > 0 && key.All(char.IsAsciiLetter))
        {
            message = string.Concat(key.Select((c, i) => i == 0 ? char.ToLowerInvariant(c).ToString()
                : char.IsAsciiLetterUpper(c) ? " " + char.ToLowerInvariant(c) : c.ToString()));
        }

        return $"line {(exception.LineNumber ?? 0) + 1}, position {(exception.BytePositionInLine ?? 0) + 1}: {message.Trim().TrimEnd('.')}";
    }
}
