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
}
