using System.Buffers;
using System.Text.Json;

namespace FastProxy.Configuration;

/// <summary>
/// The routes file's form on the command line: one <c>--route</c> per route, its fields as
/// <c>key=value</c> pairs separated by commas, and <c>identity.</c> before an identity's fields —
/// <c>--route name=query,pathPrefix=/api/v1/,target=https://…,identity.type=userassigned,identity.clientId=…</c>.
/// The flags become the JSON a routes file would hold, so <see cref="RoutesFile.Parse"/> checks
/// them with the same rules and messages.
/// </summary>
/// <remarks>
/// Values are strings, except <c>true</c> and <c>false</c> (for <c>identity.sendCertificateChain</c>).
/// A value cannot hold a comma; no field of a route needs one.
/// </remarks>
internal static class RouteFlags
{
    public const string OptionName = "--route";

    private const string IdentityPrefix = "identity.";

    /// <summary>The flags as routes-file JSON, or null after reporting each malformed flag to <paramref name="error"/>.</summary>
    public static byte[]? ToJson(IReadOnlyList<string> flags, Action<string> error)
    {
        var output = new ArrayBufferWriter<byte>();
        var valid = true;
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("routes");
            for (var index = 0; index < flags.Count; index++)
            {
                valid &= WriteRoute(flags[index], index, writer, error);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return valid ? output.WrittenSpan.ToArray() : null;
    }

    private static bool WriteRoute(string flag, int index, Utf8JsonWriter writer, Action<string> error)
    {
        var where = $"{OptionName} #{index + 1} ('{flag}')";
        var route = new List<(string Key, string Value)>();
        var identity = new List<(string Key, string Value)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in flag.Split(',', StringSplitOptions.TrimEntries))
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                error($"{where}: '{item}' is not key=value; write e.g. {OptionName} name=query,pathPrefix=/api/v1/,target=https://<workspace>.prometheus.monitor.azure.com");
                return false;
            }

            var key = item[..equals].Trim();
            if (!seen.Add(key))
            {
                error($"{where}: '{key}' is given twice; give each field once");
                return false;
            }

            var value = item[(equals + 1)..].Trim();
            if (key.StartsWith(IdentityPrefix, StringComparison.Ordinal))
            {
                identity.Add((key[IdentityPrefix.Length..], value));
            }
            else
            {
                route.Add((key, value));
            }
        }

        writer.WriteStartObject();
        WriteFields(route, writer);
        if (identity.Count > 0)
        {
            writer.WriteStartObject("identity");
            WriteFields(identity, writer);
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        return true;
    }

    private static void WriteFields(List<(string Key, string Value)> fields, Utf8JsonWriter writer)
    {
        foreach (var (key, value) in fields)
        {
            switch (value)
            {
                case "true":
                    writer.WriteBoolean(key, true);
                    break;
                case "false":
                    writer.WriteBoolean(key, false);
                    break;
                default:
                    writer.WriteString(key, value);
                    break;
            }
        }
    }
}
